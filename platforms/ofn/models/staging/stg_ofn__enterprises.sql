with

source as (

    select * from {{ source('platform', 'enterprises') }}

),

renamed as (

    select
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(id as {{ dbt.type_bigint() }}) as enterprise_id,
        cast(name as {{ dbt.type_string() }}) as enterprise_name,
        cast(sells as {{ dbt.type_string() }}) as sells,
        cast(is_primary_producer as {{ dbt.type_boolean() }}) as is_primary_producer,
        cast(owner_id as {{ dbt.type_bigint() }}) as owner_id,
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
        'instance_id, enterprise_id',
        'updated_at desc nulls last, dlt_load_id desc, dlt_id desc'
    ) }}

),

final as (

    select
        instance_id,
        enterprise_id,
        enterprise_name,
        sells,
        is_primary_producer,
        owner_id,
        created_at,
        updated_at,
        extracted_at,
        dlt_load_id

    from deduped

)

select * from final
