{{ config(enabled=platform_has('orders') and platform_has('plan_prices')) }}

-- Closed months as they were first reported (the earliest version in the billing snapshot),
-- next to what the month bills today: a restated month (an order cancelled after the month
-- closed, a late order) shows is_restated.
with

reported_versions as (

    select * from {{ ref('billing_by_organization_month_snapshot') }}

),

current_billing as (

    select * from {{ ref('billing_by_organization_month') }}

),

first_reports as (

    {{ dedupe_latest(
        'reported_versions',
        'tenant_id, month_start',
        'dbt_valid_from asc, dbt_scd_id asc'
    ) }}

),

final as (

    select
        first_reports.instance_id,
        first_reports.organization_id,
        first_reports.tenant_id,
        first_reports.month_start,
        first_reports.plan,
        first_reports.currency,
        cast(first_reports.dbt_valid_from as {{ type_timestamp_utc() }}) as reported_at,
        cast(first_reports.turnover_cents as {{ dbt.type_bigint() }}) as reported_turnover_cents,
        cast(first_reports.billed_cents as {{ dbt.type_bigint() }}) as reported_billed_cents,
        {{ cents_to_amount('first_reports.billed_cents') }} as reported_billed,
        cast(current_billing.billed_cents as {{ dbt.type_bigint() }}) as current_billed_cents,
        coalesce(
            current_billing.billed_cents <> first_reports.billed_cents
            or current_billing.plan <> first_reports.plan, true
        ) as is_restated

    from first_reports
    left join current_billing
        on
            first_reports.tenant_id = current_billing.tenant_id
            and first_reports.month_start = current_billing.month_start

)

select * from final
