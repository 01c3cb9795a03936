-- to_local_time, from_local_time and period_start on instants around month ends and daylight
-- saving changes in the three instance time zones.
with

cases as (

    {% set cases = [
        ('london 23:30 on the last day (summer)', '2026-06-30 22:30:00+00', 'Europe/London'),
        ('london 23:30 on the last day (winter)', '2026-01-31 23:30:00+00', 'Europe/London'),
        ('london 00:30 on the first day', '2026-05-31 23:30:00+00', 'Europe/London'),
        ('london after the spring change', '2026-03-29 01:30:00+00', 'Europe/London'),
        ('sydney 23:30 on the last day', '2026-06-30 13:30:00+00', 'Australia/Sydney'),
        ('sydney 00:30 on the first day', '2026-06-30 14:30:00+00', 'Australia/Sydney'),
        ('paris 23:30 on the last day', '2026-06-30 21:30:00+00', 'Europe/Paris'),
        ('paris 00:30 on the first day', '2026-05-31 22:30:00+00', 'Europe/Paris'),
        ('utc sunday', '2026-06-28 12:00:00+00', 'UTC'),
    ] %}
    {%- for case_name, instant, time_zone in cases %}
        select
            '{{ case_name }}' as case_name,
            cast('{{ instant }}' as {{ type_timestamp_utc() }}) as instant_at,
            '{{ time_zone }}' as time_zone
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

localized as (

    select
        case_name,
        instant_at,
        time_zone,
        {{ to_local_time('instant_at', 'time_zone') }} as local_datetime

    from cases

),

final as (

    select
        case_name,
        cast(local_datetime as date) as local_date,
        cast(extract(hour from local_datetime) as {{ dbt.type_bigint() }}) as local_hour,
        cast(extract(minute from local_datetime) as {{ dbt.type_bigint() }}) as local_minute,
        {{ period_start('week', 'local_datetime') }} as week_start,
        {{ period_start('month', 'local_datetime') }} as month_start,
        {{ from_local_time('local_datetime', 'time_zone') }} = instant_at as is_round_trip

    from localized

)

select * from final
