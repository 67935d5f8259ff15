"""Layer 6, the field coming in: latest-value state (``ingest.state``), sources
(``ingest.sources``) and the Parquet historian (``ingest.historian``).
"""
