{#-
    What each closed month was billed as, each time it was reported. Turnover is restated when
    an order of a closed month is cancelled later; this history keeps the figures as they were
    when first reported (the earliest version of a tenant and month), and every restatement
    after it. Rows are never invalidated (hard_deletes: ignore): a bill that was sent stays.
-#}
{% snapshot billing_by_organization_month_snapshot %}

{{
    config(
        enabled=platform_has('orders') and platform_has('plan_prices'),
        unique_key=['tenant_id', 'month_start'],
        strategy='check',
        check_cols=['plan', 'turnover_cents', 'monthly_fee_cents', 'variable_fee_cents', 'billed_cents'],
        hard_deletes='ignore',
    )
}}

    select
        instance_id,
        organization_id,
        tenant_id,
        month_start,
        plan,
        currency,
        turnover_cents,
        monthly_fee_cents,
        variable_fee_cents,
        billed_cents

    from {{ ref('billing_by_organization_month') }}

    where is_closed

{% endsnapshot %}
