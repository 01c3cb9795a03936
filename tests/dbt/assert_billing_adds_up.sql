-- Every bill is its fixed fee plus its variable fee, and bills the turnover the turnover mart
-- reports for the same tenant and month (0 when the month had none).
{{ config(enabled=platform_has('orders') and platform_has('plan_prices')) }}

with

billing as (

    select * from {{ ref('billing_by_organization_month') }}

),

turnover as (

    select * from {{ ref('turnover_by_organization_month') }}

),

final as (

    select
        billing.tenant_id,
        billing.month_start,
        billing.billed_cents,
        billing.monthly_fee_cents,
        billing.variable_fee_cents,
        billing.turnover_cents,
        turnover.turnover_cents as reported_turnover_cents

    from billing
    left join turnover
        on
            billing.tenant_id = turnover.tenant_id
            and billing.month_start = turnover.month_start

    where
        billing.billed_cents <> billing.monthly_fee_cents + billing.variable_fee_cents
        or billing.turnover_cents <> coalesce(turnover.turnover_cents, 0)

)

select * from final
