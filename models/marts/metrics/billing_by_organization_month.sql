{{ config(enabled=platform_has('orders') and platform_has('plan_prices')) }}

with

organization_months as (

    select * from {{ ref('int_organization_months_spined') }}

),

plan_history as (

    select * from {{ ref('int_organization_plans_historized') }}

),

turnover as (

    select * from {{ ref('turnover_by_organization_month') }}

),

instances as (

    select * from {{ ref('contract_instances') }}

),

plans as (

    select * from {{ ref('contract_plan_prices') }}

),

plans_at_month_end as (

    -- The version in force at the end of the month: started before the month ended and not
    -- ended before it did.
    select
        organization_months.tenant_id,
        organization_months.month_start,
        plan_history.plan

    from organization_months
    inner join plan_history
        on
            organization_months.instance_id = plan_history.instance_id
            and organization_months.organization_id = plan_history.organization_id
            and organization_months.month_end_at > plan_history.valid_from_at
            and (
                plan_history.valid_to_at is null
                or organization_months.month_end_at <= plan_history.valid_to_at
            )

),

billed_months as (

    select
        organization_months.instance_id,
        organization_months.organization_id,
        organization_months.tenant_id,
        organization_months.month_start,
        organization_months.is_closed,
        instances.currency,
        -- Closed months: the plan in force at their end, from history. The open month: today's.
        case
            when organization_months.is_closed
                then coalesce(plans_at_month_end.plan, organization_months.current_plan)
            else organization_months.current_plan
        end as plan,
        coalesce(turnover.turnover_cents, 0) as turnover_cents

    from organization_months
    inner join instances
        on organization_months.instance_id = instances.instance_id
    left join plans_at_month_end
        on
            organization_months.tenant_id = plans_at_month_end.tenant_id
            and organization_months.month_start = plans_at_month_end.month_start
    left join turnover
        on
            organization_months.tenant_id = turnover.tenant_id
            and organization_months.month_start = turnover.month_start

),

priced as (

    select
        billed_months.*,
        plans.monthly_fee_cents,
        {{ divide_round_half_away_from_zero(
            'plans.turnover_rate_bps * billed_months.turnover_cents', '10000'
        ) }} as variable_fee_cents

    from billed_months
    left join plans
        on
            billed_months.plan = plans.plan
            and billed_months.currency = plans.currency
            -- The price in force on the month's first day: one that starts mid-month applies
            -- from the next month.
            and (plans.valid_from is null or billed_months.month_start >= plans.valid_from)
            and (plans.valid_to is null or billed_months.month_start < plans.valid_to)

    -- A month without a plan (the organization had none) is not billed.
    where billed_months.plan is not null

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        month_start,
        plan,
        currency,
        cast(turnover_cents as {{ dbt.type_bigint() }}) as turnover_cents,
        cast(monthly_fee_cents as {{ dbt.type_bigint() }}) as monthly_fee_cents,
        cast(variable_fee_cents as {{ dbt.type_bigint() }}) as variable_fee_cents,
        cast(monthly_fee_cents + variable_fee_cents as {{ dbt.type_bigint() }}) as billed_cents,
        {{ cents_to_amount('monthly_fee_cents + variable_fee_cents') }} as billed,
        is_closed

    from priced

)

select * from final
