-- month_starts_between (inclusive bounds, across a year end), subtract_days and tenant_id.
with

months as (

    {{ month_starts_between("cast('2026-11-01' as date)", "cast('2027-02-01' as date)") }}

),

month_series as (

    select
        'month_starts_between' as case_name,
        cast(count(*) as {{ dbt.type_bigint() }}) as row_count,
        min(month_start) as first_date,
        max(month_start) as last_date

    from months

),

shifted as (

    select
        'subtract_days 3' as case_name,
        cast(1 as {{ dbt.type_bigint() }}) as row_count,
        {%- set noon_utc = "cast('2026-03-01 12:00:00+00' as " ~ type_timestamp_utc() ~ ")" %}
        cast({{ to_local_time(subtract_days(noon_utc, 3), "'UTC'") }} as date) as first_date,
        cast(null as date) as last_date

),

tenants as (

    select
        {{ tenant_id("'uk'", 'cast(42 as ' ~ dbt.type_bigint() ~ ')') }} as known_tenant_id,
        {{ tenant_id("'uk'", 'cast(null as ' ~ dbt.type_bigint() ~ ')') }} as unknown_tenant_id

),

tenant_check as (

    select
        case
            when known_tenant_id = 'uk:42' and unknown_tenant_id is null then 'tenant_id uk:42'
            else 'tenant_id wrong: ' || coalesce(known_tenant_id, 'null')
        end as case_name,
        cast(1 as {{ dbt.type_bigint() }}) as row_count,
        cast(null as date) as first_date,
        cast(null as date) as last_date

    from tenants

),

final as (

    select * from month_series
    union all
    select * from shifted
    union all
    select * from tenant_check

)

select * from final
