{#-
    SCD2 history of organizations: one version per change of plan, kind, time zone or deletion.
    dbt_valid_from is the source's updated_at (the time of the change), not the snapshot time.
    Organizations hard-deleted in the source get their dbt_valid_to set (hard_deletes:
    invalidate). Only non-personal columns are kept (no name).
-#}
{% snapshot organizations_snapshot %}

{{
    config(
        unique_key=['instance_id', 'organization_id'],
        strategy='check',
        check_cols=['plan', 'kind', 'time_zone', 'deleted_at'],
        updated_at='updated_at',
        hard_deletes='invalidate',
    )
}}

    select
        instance_id,
        organization_id,
        tenant_id,
        kind,
        plan,
        time_zone,
        created_at,
        updated_at,
        deleted_at,
        is_deleted

    from {{ ref('contract_organizations') }}

{% endsnapshot %}
