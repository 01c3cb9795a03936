-- Expected rows of macro_test_time_zones (worked out with Python's zoneinfo).
{%- set rows = [
    ('london 23:30 on the last day (summer)', '2026-06-30', 23, 30, '2026-06-29', '2026-06-01'),
    ('london 23:30 on the last day (winter)', '2026-01-31', 23, 30, '2026-01-26', '2026-01-01'),
    ('london 00:30 on the first day', '2026-06-01', 0, 30, '2026-06-01', '2026-06-01'),
    ('london after the spring change', '2026-03-29', 2, 30, '2026-03-23', '2026-03-01'),
    ('sydney 23:30 on the last day', '2026-06-30', 23, 30, '2026-06-29', '2026-06-01'),
    ('sydney 00:30 on the first day', '2026-07-01', 0, 30, '2026-06-29', '2026-07-01'),
    ('paris 23:30 on the last day', '2026-06-30', 23, 30, '2026-06-29', '2026-06-01'),
    ('paris 00:30 on the first day', '2026-06-01', 0, 30, '2026-06-01', '2026-06-01'),
    ('utc sunday', '2026-06-28', 12, 0, '2026-06-22', '2026-06-01'),
] %}

with

final as (

    {% for case_name, local_date, local_hour, local_minute, week_start, month_start in rows %}
        select
            '{{ case_name }}' as case_name,
            cast('{{ local_date }}' as date) as local_date,
            cast({{ local_hour }} as {{ dbt.type_bigint() }}) as local_hour,
            cast({{ local_minute }} as {{ dbt.type_bigint() }}) as local_minute,
            cast('{{ week_start }}' as date) as week_start,
            cast('{{ month_start }}' as date) as month_start,
            true as is_round_trip
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

)

select * from final
