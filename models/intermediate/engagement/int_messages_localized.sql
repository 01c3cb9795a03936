-- Valid messages, with the creation time on the organization's local
-- calendar (the instance's when the organization's time zone is invalid).
{#- Incremental: a cycle localizes the messages staged since the newest load this table holds
    (per instance), and every message of an organization whose version (time zone) is not the
    one its rows were localized with. The post-hook removes rows no longer valid (deleted in
    the source, quarantined since, their organization gone). `refreshed_at` tells the
    models downstream which rows this invocation wrote. -#}
{{
    config(
        enabled=platform_has('messages'),
        materialized='incremental',
        incremental_strategy=upsert_strategy(),
        unique_key=['instance_id', 'message_id'],
        on_schema_change='append_new_columns',
        cluster_by=['instance_id', 'organization_id'],
        post_hook="{{ delete_rows_missing_from(valid_tenant_rows(ref('contract_messages'), 'message_id'), ['instance_id', 'message_id']) }}",
    )
}}

{%- set incremental = is_incremental_from('dlt_load_id') %}

with

messages as (

    select * from {{ ref('contract_messages') }}

),

organizations as (

    select * from {{ ref('int_organizations_zoned') }}

),

{{ changed_rows_to_localize('messages', incremental) }}

valid_messages as (

    select
        changed_messages.instance_id,
        changed_messages.organization_id,
        changed_messages.tenant_id,
        changed_messages.message_id,
        changed_messages.contact_id,
        changed_messages.direction,
        changed_messages.status,
        changed_messages.created_at,
        changed_messages.updated_at,
        changed_messages.dlt_load_id,
        organizations.time_zone,
        organizations.updated_at as organization_updated_at

    from changed_messages
    inner join organizations
        on
            changed_messages.instance_id = organizations.instance_id
            and changed_messages.organization_id = organizations.organization_id

    where changed_messages.quarantine_reason is null

),

localized as (

    select
        *,
        {{ to_local_time('created_at', 'time_zone') }} as created_local_datetime

    from valid_messages

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        message_id,
        contact_id,
        direction,
        status,
        created_at,
        updated_at,
        time_zone,
        organization_updated_at,
        created_local_datetime,
        cast(created_local_datetime as date) as created_local_date,
        {{ period_start('month', 'created_local_datetime') }} as created_month_start,
        dlt_load_id,
        {{ refreshed_at() }} as refreshed_at

    from localized

)

select * from final
