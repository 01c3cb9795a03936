-- One row per organization and local calendar month it is billed for: from the month of
-- its creation through the month holding its instance's latest activity (the latest
-- updated_at of a valid order or message), on the organization's calendar. Months at whose end
-- the organization was already soft-deleted are left out, and the open month if it is
-- soft-deleted now. month_end_at is the UTC instant the
-- month ends (the next month's local midnight). An organization with an invalid time zone is
-- billed on its instance's calendar (int_organizations_zoned). Organizations without a plan
-- are not billed. Billing needs orders (turnover) and a price list.
{{ config(enabled=platform_has('orders') and platform_has('plan_prices')) }}

with

organizations as (

    select * from {{ ref('int_organizations_zoned') }}

),

orders as (

    select * from {{ ref('int_orders_localized') }}

),

{% if platform_has('messages') -%}
    messages as (

        select * from {{ ref('int_messages_localized') }}

    ),
{%- endif %}

activity_updates as (

    select
        instance_id,
        updated_at
    from orders
    {% if platform_has('messages') -%}
        union all
        select
            instance_id,
            updated_at
        from messages
    {%- endif %}

),

latest_activity as (

    select
        instance_id,
        max(updated_at) as latest_activity_at

    from activity_updates

    group by instance_id

),

organization_bounds as (

    select
        organizations.instance_id,
        organizations.organization_id,
        organizations.tenant_id,
        organizations.time_zone,
        organizations.plan as current_plan,
        organizations.deleted_at,
        {{ period_start('month', to_local_time('organizations.created_at', 'organizations.time_zone')) }}
            as first_month_start,
        {{ period_start('month', to_local_time('latest_activity.latest_activity_at', 'organizations.time_zone')) }}
            as last_month_start

    from organizations
    inner join latest_activity
        on organizations.instance_id = latest_activity.instance_id

    where organizations.plan is not null

),

months as (

    {{ month_starts_between(
        '(select min(first_month_start) from organization_bounds)',
        '(select max(last_month_start) from organization_bounds)'
    ) }}

),

spined as (

    select
        organization_bounds.instance_id,
        organization_bounds.organization_id,
        organization_bounds.tenant_id,
        months.month_start,
        organization_bounds.current_plan,
        organization_bounds.deleted_at,
        months.month_start < organization_bounds.last_month_start as is_closed,
        {{ from_local_time(dbt.dateadd('month', 1, 'months.month_start'), 'organization_bounds.time_zone') }}
            as month_end_at

    from organization_bounds
    inner join months
        on
            organization_bounds.first_month_start <= months.month_start
            and organization_bounds.last_month_start >= months.month_start

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        month_start,
        month_end_at,
        is_closed,
        current_plan

    from spined

    -- Soft-deleted at the month's end; for the open month, soft-deleted now.
    where
        deleted_at is null
        or (is_closed and deleted_at >= month_end_at)

)

select * from final
