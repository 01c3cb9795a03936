"""Monitoring: the pipeline's run log in the warehouse, alerts, status, report, rerun and backfill.

What records what (docs/architecture.md, "Monitoring"):
- ingestion runs: the ingestion layer appends `raw._tw_ingestion_runs`;
- dbt node results and source freshness checks: the on-run-end hook appends `raw._tw_dbt_results`
  (macros/monitoring/), for every dbt invocation, whoever runs it;
- row counts: `capture.capture_row_counts` appends `raw._tw_row_counts` after each ingestion;
- alerts: `alerts.evaluate_and_send` appends `raw._tw_alerts` (what was sent, what cleared).
dbt turns those into the observability marts (models/marts/observability/), which `status`,
`report` and the alert rules read.
"""
