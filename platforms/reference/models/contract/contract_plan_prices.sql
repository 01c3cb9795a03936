-- The reference platform's price list has no validity dates: every price applies always.
with

plans as (

    select * from {{ ref('plans') }}

),

final as (

    select
        cast(plan as {{ dbt.type_string() }}) as plan,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(null as date) as valid_from,
        cast(null as date) as valid_to,
        cast(monthly_fee_cents as {{ dbt.type_bigint() }}) as monthly_fee_cents,
        cast(turnover_rate_bps as {{ dbt.type_bigint() }}) as turnover_rate_bps

    from plans

)

select * from final
