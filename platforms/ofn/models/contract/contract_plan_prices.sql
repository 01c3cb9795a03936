-- OFN has no plans: an enterprise is billed by what it `sells` (own, any), which is the
-- contract's plan (contract_organizations). Prices and their validity dates come from the
-- profile seed ofn_plans.
with

prices as (

    select * from {{ ref('ofn_plans') }}

),

final as (

    select
        cast(sells as {{ dbt.type_string() }}) as plan,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        cast(monthly_fee_cents as {{ dbt.type_bigint() }}) as monthly_fee_cents,
        cast(turnover_rate_bps as {{ dbt.type_bigint() }}) as turnover_rate_bps

    from prices

)

select * from final
