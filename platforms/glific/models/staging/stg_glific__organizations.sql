-- Glific's organizations (the tenants), one row per (instance_id, organization_id), in Glific's
-- own vocabulary: the mapping to the contract is contract_organizations.
with

source as (

    select * from {{ source('platform', 'organizations') }}

),

renamed as (

    select
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(id as {{ dbt.type_bigint() }}) as organization_id,
        cast(name as {{ dbt.type_string() }}) as organization_name,
        cast(shortcode as {{ dbt.type_string() }}) as shortcode,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(is_active as boolean) as is_active,
        cast(timezone as {{ dbt.type_string() }}) as timezone,
        cast(inserted_at as {{ type_timestamp_utc() }}) as inserted_at,
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
        'instance_id, organization_id',
        'updated_at desc nulls last, dlt_load_id desc, dlt_id desc'
    ) }}

),

final as (

    select
        instance_id,
        organization_id,
        organization_name,
        shortcode,
        status,
        is_active,
        timezone,
        inserted_at,
        updated_at,
        deleted_at,
        extracted_at,
        dlt_load_id

    from deduped

)

select * from final
