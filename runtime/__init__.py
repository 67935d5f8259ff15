"""The runtime: everything that runs a site, as layers (docs/architecture.md).

core, config, log, decide (pure: the one decision step), audit, ingest, service,
approvals, words, agents, shadow, hierarchy, conductor, api, demo, cli; each imports
only the layers before it (tests/runtime/test_layers.py). The shell around the pure
functions of ``safety``, ``simulator`` and ``forecasting``; everything here may import
those packages, never the reverse. Entry points are the ``gridaios`` command
(``runtime.cli``) and ``runtime.conductor.loop.Conductor``.
"""

__all__: list[str] = []
