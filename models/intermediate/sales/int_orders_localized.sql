-- Valid orders, with the completion time on the organization's local
-- calendar (the calendar turnover and billing use; the instance's when the organization's
-- time zone is invalid, see int_organizations_zoned).
{#- Incremental: a cycle localizes the orders staged since the newest load this table holds
    (per instance), and every order of an organization whose version (time zone) is not the
    one its rows were localized with. The post-hook removes rows no longer valid (deleted in
    the source, quarantined since, their organization gone). `refreshed_at` tells the
    models downstream which rows this invocation wrote. -#}
{{
    config(
        enabled=platform_has('orders'),
        materialized='incremental',
        incremental_strategy=upsert_strategy(),
        unique_key=['instance_id', 'order_id'],
        on_schema_change='append_new_columns',
        cluster_by=['instance_id', 'organization_id'],
        post_hook="{{ delete_rows_missing_from(valid_tenant_rows(ref('contract_orders'), 'order_id'), ['instance_id', 'order_id']) }}",
    )
}}

{%- set incremental = is_incremental_from('dlt_load_id') %}

with

orders as (

    select * from {{ ref('contract_orders') }}

),

organizations as (

    select * from {{ ref('int_organizations_zoned') }}

),

{{ changed_rows_to_localize('orders', incremental) }}

valid_orders as (

    select
        changed_orders.instance_id,
        changed_orders.organization_id,
        changed_orders.tenant_id,
        changed_orders.order_id,
        changed_orders.contact_id,
        changed_orders.state,
        changed_orders.total_cents,
        changed_orders.created_at,
        changed_orders.completed_at,
        changed_orders.cancelled_at,
        changed_orders.returned_at,
        changed_orders.updated_at,
        changed_orders.dlt_load_id,
        organizations.time_zone,
        organizations.updated_at as organization_updated_at

    from changed_orders
    inner join organizations
        on
            changed_orders.instance_id = organizations.instance_id
            and changed_orders.organization_id = organizations.organization_id

    where changed_orders.quarantine_reason is null

),

localized as (

    select
        *,
        {{ to_local_time('completed_at', 'time_zone') }} as completed_local_datetime

    from valid_orders

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        order_id,
        contact_id,
        state,
        total_cents,
        created_at,
        completed_at,
        cancelled_at,
        returned_at,
        updated_at,
        time_zone,
        organization_updated_at,
        completed_local_datetime,
        cast(completed_local_datetime as date) as completed_local_date,
        {{ period_start('month', 'completed_local_datetime') }} as completed_month_start,
        dlt_load_id,
        {{ refreshed_at() }} as refreshed_at

    from localized

)

select * from final
