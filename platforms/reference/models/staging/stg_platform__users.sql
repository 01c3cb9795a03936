with

source as (

    select * from {{ source('platform', 'users') }}

),

renamed as (

    select
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(organization_id as {{ dbt.type_bigint() }}) as organization_id,
        cast(id as {{ dbt.type_bigint() }}) as user_id,
        cast(name_hash as {{ dbt.type_string() }}) as name_hash,
        cast(email_hash as {{ dbt.type_string() }}) as email_hash,
        cast(phone_hash as {{ dbt.type_string() }}) as phone_hash,
        cast(role as {{ dbt.type_string() }}) as role,
        cast(created_at as {{ type_timestamp_utc() }}) as created_at,
        cast(updated_at as {{ type_timestamp_utc() }}) as updated_at,
        cast(deleted_at as {{ type_timestamp_utc() }}) as deleted_at,
        cast(_tw_extracted_at as {{ type_timestamp_utc() }}) as extracted_at,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as dlt_load_id,
        cast(_dlt_id as {{ dbt.type_string() }}) as dlt_id

    from source

),

deduped as (

    {{ dedupe_latest(
        'renamed',
        'instance_id, user_id',
        'updated_at desc nulls last, dlt_load_id desc, dlt_id desc'
    ) }}

),

final as (

    select
        instance_id,
        organization_id,
        {{ tenant_id() }} as tenant_id,
        user_id,
        name_hash,
        email_hash,
        phone_hash,
        role,
        created_at,
        updated_at,
        deleted_at,
        deleted_at is not null as is_deleted,
        extracted_at,
        dlt_load_id,
        case
            when organization_id is null then 'missing_tenant'
        end as quarantine_reason

    from deduped

)

select * from final
