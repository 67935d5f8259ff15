"""Layer 13, the local conductor: the loop (``conductor.loop``), the outbox
(``conductor.outbox``), command sinks (``conductor.sinks``) and operator interventions
(``conductor.interventions``).
"""
