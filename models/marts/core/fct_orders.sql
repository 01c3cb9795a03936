{{
    config(
        enabled=platform_has('orders'),
        materialized='incremental',
        incremental_strategy=upsert_strategy(),
        unique_key=['instance_id', 'order_id'],
        on_schema_change='append_new_columns',
        partition_by=partition_by_config('created_at', granularity='month'),
        cluster_by=['instance_id', 'organization_id'],
        post_hook="{{ delete_rows_missing_from(ref('int_orders_localized'), ['instance_id', 'order_id']) }}",
    )
}}

{%- set incremental = is_incremental_from('refreshed_at') %}

with

orders as (

    select * from {{ ref('int_orders_localized') }}

),

{% if incremental %}
merged as (

    select max(refreshed_at) as refreshed_at

    from {{ this }}

),

{% endif %}
changed_orders as (

    select orders.*

    from orders

    {% if incremental %}
        -- What the intermediate wrote since this model last merged: its new and changed rows,
        -- and every row of an organization whose time zone changed (it relocalizes them).
        -- Strictly after: the intermediate runs before this model in every invocation, so the
        -- rows of the invocation this model last merged were all merged then.
        cross join merged

        where
            merged.refreshed_at is null
            or orders.refreshed_at > merged.refreshed_at
    {% endif %}

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        order_id,
        contact_id,
        state,
        total_cents,
        {{ cents_to_amount('total_cents') }} as total,
        created_at,
        completed_at,
        cancelled_at,
        returned_at,
        updated_at,
        completed_local_date,
        refreshed_at

    from changed_orders

)

select * from final
