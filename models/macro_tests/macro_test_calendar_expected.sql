-- Expected rows of macro_test_calendar.
with

final as (

    select
        'month_starts_between' as case_name,
        cast(4 as {{ dbt.type_bigint() }}) as row_count,
        cast('2026-11-01' as date) as first_date,
        cast('2027-02-01' as date) as last_date
    union all
    select
        'subtract_days 3' as case_name,
        cast(1 as {{ dbt.type_bigint() }}) as row_count,
        cast('2026-02-26' as date) as first_date,
        cast(null as date) as last_date
    union all
    select
        'tenant_id uk:42' as case_name,
        cast(1 as {{ dbt.type_bigint() }}) as row_count,
        cast(null as date) as first_date,
        cast(null as date) as last_date

)

select * from final
