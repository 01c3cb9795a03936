with

source as (

    select * from {{ source('platform', 'customers') }}

),

renamed as (

    select
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(id as {{ dbt.type_bigint() }}) as customer_id,
        cast(enterprise_id as {{ dbt.type_bigint() }}) as enterprise_id,
        cast(user_id as {{ dbt.type_bigint() }}) as user_id,
        cast(name_hash as {{ dbt.type_string() }}) as name_hash,
        cast(email_hash as {{ dbt.type_string() }}) as email_hash,
        cast(code as {{ dbt.type_string() }}) as customer_code,
        cast(created_manually as {{ dbt.type_boolean() }}) as is_created_manually,
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
        'instance_id, customer_id',
        'updated_at desc nulls last, dlt_load_id desc, dlt_id desc'
    ) }}

),

final as (

    select
        instance_id,
        customer_id,
        enterprise_id,
        user_id,
        name_hash,
        email_hash,
        customer_code,
        is_created_manually,
        created_at,
        updated_at,
        extracted_at,
        dlt_load_id

    from deduped

)

select * from final
