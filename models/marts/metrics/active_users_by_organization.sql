{{ config(enabled=platform_has_any(['orders', 'messages'])) }}

with

activities as (

    select * from {{ ref('int_contact_activities_unioned') }}

),

active_days as (

    select distinct
        instance_id,
        organization_id,
        tenant_id,
        contact_id,
        organization_activity_date as activity_date

    from activities

),

{{ active_contacts_by_period('active_days', ['instance_id', 'organization_id', 'tenant_id']) }}

final as (

    select * from counted_periods

)

select * from final
