-- The reference platform's states are the canonical ones, except a cart, which is `open`.
with

orders as (

    select * from {{ ref('stg_platform__orders') }}

),

mapped as (

    select
        *,
        case when state = 'cart' then 'open' else state end as canonical_state

    from orders

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        order_id,
        contact_id,
        canonical_state as state,
        total_cents,
        created_at,
        completed_at,
        cancelled_at,
        returned_at,
        updated_at,
        extracted_at,
        dlt_load_id,
        quarantine_reason

    from mapped

)

select * from final
