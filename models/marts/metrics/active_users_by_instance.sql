{{ config(enabled=platform_has_any(['orders', 'messages'])) }}

with

activities as (

    select * from {{ ref('int_contact_activities_unioned') }}

),

active_days as (

    select distinct
        instance_id,
        contact_id,
        instance_activity_date as activity_date

    from activities

),

{{ active_contacts_by_period('active_days', ['instance_id']) }}

final as (

    select * from counted_periods

)

select * from final
