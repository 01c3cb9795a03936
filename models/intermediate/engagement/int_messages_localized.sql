-- Valid messages of valid organizations, with the creation time on the organization's local
-- calendar.
{#- A table, not a view: fct_messages, message delivery, the billing spine, the activities
    and their tests all read it in one build; its time-zone conversions run once. -#}
{{ config(materialized='table') }}

with

messages as (

    select * from {{ ref('stg_platform__messages') }}

),

organizations as (

    select * from {{ ref('stg_platform__organizations') }}

),

valid_messages as (

    select
        messages.instance_id,
        messages.organization_id,
        messages.tenant_id,
        messages.message_id,
        messages.contact_id,
        messages.direction,
        messages.status,
        messages.created_at,
        messages.updated_at,
        organizations.time_zone,
        organizations.updated_at as organization_updated_at

    from messages
    inner join organizations
        on
            messages.instance_id = organizations.instance_id
            and messages.organization_id = organizations.organization_id

    where
        messages.quarantine_reason is null
        and organizations.quarantine_reason is null

),

localized as (

    select
        *,
        {{ to_local_time('created_at', 'time_zone') }} as created_local_datetime

    from valid_messages

),

final as (

    select
        *,
        cast(created_local_datetime as date) as created_local_date,
        {{ period_start('month', 'created_local_datetime') }} as created_month_start

    from localized

)

select * from final
