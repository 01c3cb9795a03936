-- Money stays in currency units here (numeric(10,2), exact); contract_orders turns it into
-- minor units.
with

source as (

    select * from {{ source('platform', 'spree_orders') }}

),

renamed as (

    select
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(id as {{ dbt.type_bigint() }}) as order_id,
        cast(number as {{ dbt.type_string() }}) as order_number,
        cast(distributor_id as {{ dbt.type_bigint() }}) as distributor_id,
        cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
        cast(user_id as {{ dbt.type_bigint() }}) as user_id,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(payment_state as {{ dbt.type_string() }}) as payment_state,
        cast(shipment_state as {{ dbt.type_string() }}) as shipment_state,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(item_total as {{ type_decimal(10, 2) }}) as item_total,
        cast(adjustment_total as {{ type_decimal(10, 2) }}) as adjustment_total,
        cast(total as {{ type_decimal(10, 2) }}) as total,
        cast(created_at as {{ type_timestamp_utc() }}) as created_at,
        cast(completed_at as {{ type_timestamp_utc() }}) as completed_at,
        cast(updated_at as {{ type_timestamp_utc() }}) as updated_at,
        cast(_tw_extracted_at as {{ type_timestamp_utc() }}) as extracted_at,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as dlt_load_id,
        cast(_dlt_id as {{ dbt.type_string() }}) as dlt_id

    from source

),

deduped as (

    {{ dedupe_latest(
        'renamed',
        'instance_id, order_id',
        'updated_at desc nulls last, dlt_load_id desc, dlt_id desc'
    ) }}

),

final as (

    select
        instance_id,
        order_id,
        order_number,
        distributor_id,
        customer_id,
        user_id,
        state,
        payment_state,
        shipment_state,
        currency,
        item_total,
        adjustment_total,
        total,
        created_at,
        completed_at,
        updated_at,
        extracted_at,
        dlt_load_id

    from deduped

)

select * from final
