{#- A contact belongs to one instance: the global count is the sum of the instances' counts,
    each (instance, contact) once. -#}
{{ config(enabled=platform_has_any(['orders', 'messages'])) }}

with

activities as (

    select * from {{ ref('int_contact_activities_unioned') }}

),

active_days as (

    select distinct
        instance_id,
        contact_id,
        utc_activity_date as activity_date

    from activities

),

{{ active_contacts_by_period('active_days', ['instance_id']) }}

final as (

    select
        period,
        period_start,
        cast(sum(active_contacts) as {{ dbt.type_bigint() }}) as active_contacts

    from counted_periods

    group by
        period,
        period_start

)

select * from final
