"""Layer 5, reading decisions back: one dispatch's record (``audit.explain``) and replay of the
decision functions on recorded inputs (``audit.replay``).
"""
