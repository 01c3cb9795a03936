{{ config(enabled=platform_has('orders')) }}

with

organization_months as (

    select * from {{ ref('turnover_by_organization_month') }}

),

monthly as (

    select
        instance_id,
        month_start,
        currency,
        sum(completed_orders) as completed_orders,
        sum(turnover_cents) as turnover_cents

    from organization_months

    group by
        instance_id,
        month_start,
        currency

),

final as (

    select
        instance_id,
        month_start,
        currency,
        cast(completed_orders as {{ dbt.type_bigint() }}) as completed_orders,
        cast(turnover_cents as {{ dbt.type_bigint() }}) as turnover_cents,
        {{ cents_to_amount('turnover_cents') }} as turnover

    from monthly

)

select * from final
