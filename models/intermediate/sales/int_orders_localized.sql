-- Valid orders of valid organizations, with the completion time on the organization's local
-- calendar (the calendar turnover and billing use).
{#- A table, not a view: fct_orders, the turnover marts, the billing spine, the activities
    and their tests all read it in one build; its time-zone conversions run once. -#}
{{ config(materialized='table') }}

with

orders as (

    select * from {{ ref('stg_platform__orders') }}

),

organizations as (

    select * from {{ ref('stg_platform__organizations') }}

),

valid_orders as (

    select
        orders.instance_id,
        orders.organization_id,
        orders.tenant_id,
        orders.order_id,
        orders.contact_id,
        orders.state,
        orders.total_cents,
        orders.created_at,
        orders.completed_at,
        orders.cancelled_at,
        orders.returned_at,
        orders.updated_at,
        organizations.time_zone,
        organizations.updated_at as organization_updated_at

    from orders
    inner join organizations
        on
            orders.instance_id = organizations.instance_id
            and orders.organization_id = organizations.organization_id

    where
        orders.quarantine_reason is null
        and organizations.quarantine_reason is null

),

localized as (

    select
        *,
        {{ to_local_time('completed_at', 'time_zone') }} as completed_local_datetime

    from valid_orders

),

final as (

    select
        *,
        cast(completed_local_datetime as date) as completed_local_date,
        {{ period_start('month', 'completed_local_datetime') }} as completed_month_start

    from localized

)

select * from final
