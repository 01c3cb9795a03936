{{ config(enabled=platform_has('orders')) }}

with

orders as (

    select * from {{ ref('int_orders_localized') }}

),

instances as (

    select * from {{ ref('contract_instances') }}

),

monthly as (

    select
        instance_id,
        organization_id,
        tenant_id,
        completed_month_start as month_start,
        count(*) as completed_orders,
        sum(total_cents) as turnover_cents

    from orders

    where state = 'complete'

    group by
        instance_id,
        organization_id,
        tenant_id,
        completed_month_start

),

final as (

    select
        monthly.instance_id,
        monthly.organization_id,
        monthly.tenant_id,
        monthly.month_start,
        instances.currency,
        monthly.completed_orders,
        cast(monthly.turnover_cents as {{ dbt.type_bigint() }}) as turnover_cents,
        {{ cents_to_amount('monthly.turnover_cents') }} as turnover

    from monthly
    inner join instances
        on monthly.instance_id = instances.instance_id

)

select * from final
