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

periods as (

    {% for period in ['day', 'week', 'month'] -%}
        select distinct
            instance_id,
            contact_id,
            '{{ period }}' as period,
            {{ period_start(period, 'activity_date') }} as period_start

        from active_days
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        period,
        period_start,
        count(*) as active_contacts

    from periods

    group by
        period,
        period_start

)

select * from final
