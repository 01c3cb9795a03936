"""dlt ingestion of the platform's instances into the raw dataset (see docs/architecture.md).

Public API: `load_config`/`ConfigError` (ingestion.config) and `run_ingestion` (ingestion.pipeline).
"""
