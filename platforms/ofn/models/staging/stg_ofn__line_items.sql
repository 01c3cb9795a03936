with

source as (

    select * from {{ source('platform', 'spree_line_items') }}

),

renamed as (

    select
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(id as {{ dbt.type_bigint() }}) as line_item_id,
        cast(order_id as {{ dbt.type_bigint() }}) as order_id,
        cast(variant_id as {{ dbt.type_bigint() }}) as variant_id,
        cast(product_name as {{ dbt.type_string() }}) as product_name,
        cast(variant_name as {{ dbt.type_string() }}) as variant_name,
        cast(quantity as {{ dbt.type_bigint() }}) as quantity,
        cast(price as {{ type_decimal(10, 2) }}) as price,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(created_at as {{ type_timestamp_utc() }}) as created_at,
        cast(updated_at as {{ type_timestamp_utc() }}) as updated_at,
        cast(_tw_extracted_at as {{ type_timestamp_utc() }}) as extracted_at,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as dlt_load_id,
        cast(_dlt_id as {{ dbt.type_string() }}) as dlt_id

    from source

),

deduped as (

    {{ dedupe_latest(
        'renamed',
        'instance_id, line_item_id',
        'updated_at desc nulls last, dlt_load_id desc, dlt_id desc'
    ) }}

),

final as (

    select
        instance_id,
        line_item_id,
        order_id,
        variant_id,
        product_name,
        variant_name,
        quantity,
        price,
        currency,
        created_at,
        updated_at,
        extracted_at,
        dlt_load_id

    from deduped

)

select * from final
