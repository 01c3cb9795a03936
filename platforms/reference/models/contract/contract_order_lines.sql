with

order_items as (

    select * from {{ ref('stg_platform__order_items') }}

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        order_item_id as order_line_id,
        order_id,
        product_name,
        quantity,
        unit_price_cents,
        created_at,
        updated_at,
        extracted_at,
        dlt_load_id,
        quarantine_reason

    from order_items

)

select * from final
