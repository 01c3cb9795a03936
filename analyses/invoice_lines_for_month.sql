-- Invoice lines of one closed month, as first reported, for the accounting export (`dbt
-- compile -s invoice_lines_for_month --vars '{invoice_month: "2026-06-01"}'`, then run the
-- compiled SQL). Organizations billed 0 are left out; restated months are flagged.
-- Only for platforms that bill (orders and a price list).
{{ config(enabled=platform_has('orders') and platform_has('plan_prices')) }}
{%- set invoice_month = var('invoice_month', '2026-06-01') %}

with

reported as (

    select * from {{ ref('billing_reported_by_organization_month') }}

),

organizations as (

    select * from {{ ref('dim_organizations') }}

),

final as (

    select
        reported.tenant_id,
        organizations.organization_name,
        reported.month_start,
        reported.plan,
        reported.currency,
        reported.reported_billed_cents as billed_cents,
        reported.reported_billed as billed,
        reported.is_restated

    from reported
    inner join organizations
        on reported.tenant_id = organizations.tenant_id

    where
        reported.month_start = cast('{{ invoice_month }}' as date)
        and reported.reported_billed_cents > 0

)

select * from final
