{{ config(enabled=platform_has('orders')) }}

with

instance_months as (

    select * from {{ ref('turnover_by_instance_month') }}

),

fx_rates as (

    select * from {{ ref('fx_rates') }}

),

converted as (

    select
        instance_months.month_start,
        fx_rates.rate_to_eur,
        -- Each instance-month is converted and rounded to the cent before the sum.
        {{ round_half_away_from_zero('instance_months.turnover_cents * fx_rates.rate_to_eur') }}
            as turnover_cents_eur

    from instance_months
    left join fx_rates
        on
            instance_months.month_start = fx_rates.month_start
            and instance_months.currency = fx_rates.currency

),

monthly as (

    select
        month_start,
        -- A month with a missing rate has no total (null), never a partial one.
        case
            when count(rate_to_eur) = count(*) then sum(turnover_cents_eur)
        end as turnover_cents

    from converted

    group by month_start

),

final as (

    select
        month_start,
        cast('{{ var("reporting_currency") }}' as {{ dbt.type_string() }}) as currency,
        cast(turnover_cents as {{ dbt.type_bigint() }}) as turnover_cents,
        {{ cents_to_amount('turnover_cents') }} as turnover

    from monthly

)

select * from final
