-- Warns with the number of staging rows kept out of the marts (dq_quarantined_rows): bad rows
-- are expected at a small rate, so this never fails a build, but every run reports them.
-- One result per quarantined row; read the mart for the table, tenant and reason.
{{ config(severity='warn') }}

select
    instance_id,
    tenant_id,
    table_name,
    row_id,
    quarantine_reason

from {{ ref('dq_quarantined_rows') }}
