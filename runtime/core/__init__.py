"""Layer 1, the base every other layer may use: errors (``core.errors``) and clocks
(``core.clock``).
"""
