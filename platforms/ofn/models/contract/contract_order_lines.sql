-- OFN line items on the contract. A line item has no tenant column: it reaches its shop only
-- through its order (spree_orders.distributor_id). Lines of a cart that belongs to nobody
-- (checkout state, no distributor: see contract_orders) are left out with their cart; a line
-- whose order has no distributor past checkout, or is not in raw, is quarantined
-- (missing_tenant). Prices are numeric(10,2) in currency units: * 100 is exact.
-- extracted_at and dlt_load_id are the newer of the line's and its order's, so that a line
-- whose tenant changes through its order is seen as changed by the incremental models.
{%- set checkout_states = "('cart', 'address', 'delivery', 'payment')" %}

with

line_items as (

    select * from {{ ref('stg_ofn__line_items') }}

),

orders as (

    select * from {{ ref('stg_ofn__orders') }}

),

joined as (

    select
        line_items.instance_id,
        orders.distributor_id as organization_id,
        line_items.line_item_id as order_line_id,
        line_items.order_id,
        line_items.product_name,
        line_items.quantity,
        cast(round(line_items.price * 100) as {{ dbt.type_bigint() }}) as unit_price_cents,
        line_items.created_at,
        line_items.updated_at,
        greatest(
            line_items.extracted_at, coalesce(orders.extracted_at, line_items.extracted_at)
        ) as extracted_at,
        greatest(
            line_items.dlt_load_id, coalesce(orders.dlt_load_id, line_items.dlt_load_id)
        ) as dlt_load_id

    from line_items
    left join orders
        on
            line_items.instance_id = orders.instance_id
            and line_items.order_id = orders.order_id

    where
        orders.distributor_id is not null
        or orders.state is null
        or orders.state not in {{ checkout_states }}

),

final as (

    select
        instance_id,
        organization_id,
        {{ tenant_id() }} as tenant_id,
        order_line_id,
        order_id,
        product_name,
        quantity,
        unit_price_cents,
        created_at,
        updated_at,
        extracted_at,
        dlt_load_id,
        case
            when organization_id is null then 'missing_tenant'
        end as quarantine_reason

    from joined

)

select * from final
