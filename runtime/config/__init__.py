"""Layer 2, the site configuration: YAML -> validated models (``config.model``), the safety
section (``config.safety_config``), computed voltage sensitivities (``config.sensitivities``)
and each package's view of the config (``config.site``).
"""
