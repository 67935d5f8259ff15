"""Layer 3, the event log and what is read from it: typed events (``log.events``), upcasting
(``log.upcast``), the hash-chained SQLite log (``log.eventlog``, ``log.durable``), decision
records (``log.records``), dispatch projections (``log.dispatch``) and the dead-letter store
(``log.deadletter``).
"""
