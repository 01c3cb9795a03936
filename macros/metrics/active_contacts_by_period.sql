{#-
    active_contacts_by_period(active_days, counted_columns): CTEs counting the distinct active
    contacts of CTE `active_days` (columns: counted_columns, contact_id, activity_date) per
    day, ISO week and month, ending in `counted_periods` (counted_columns, period,
    period_start, active_contacts). One count(distinct) per period: ~2x faster than grouping
    the union of the three periods' distinct rows (SF10, DuckDB).
-#}
{% macro active_contacts_by_period(active_days, counted_columns) -%}
{%- for period in ['day', 'week', 'month'] %}
    {{ period }}_contact_periods as (

        select
            {%- for column in counted_columns %}
            {{ column }},
            {%- endfor %}
            contact_id,
            {{ period_start(period, 'activity_date') }} as period_start

        from {{ active_days }}

    ),

    {{ period }}_counts as (

        select
            {%- for column in counted_columns %}
            {{ column }},
            {%- endfor %}
            '{{ period }}' as period,
            period_start,
            count(distinct contact_id) as active_contacts

        from {{ period }}_contact_periods

        group by
            {%- for column in counted_columns %}
            {{ column }},
            {%- endfor %}
            period_start

    ),
{% endfor %}
counted_periods as (

    select * from day_counts
    union all
    select * from week_counts
    union all
    select * from month_counts

),
{%- endmacro %}
