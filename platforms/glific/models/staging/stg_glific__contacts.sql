-- Glific's contacts, one row per (instance_id, contact_id). Erased contacts are hard-deleted in
-- the source (with their messages, by cascade) and removed from raw by reconciliation: absent.
with

source as (

    select * from {{ source('platform', 'contacts') }}

),

renamed as (

    select
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(id as {{ dbt.type_bigint() }}) as contact_id,
        cast(organization_id as {{ dbt.type_bigint() }}) as organization_id,
        cast(name_hash as {{ dbt.type_string() }}) as name_hash,
        cast(phone_hash as {{ dbt.type_string() }}) as phone_hash,
        cast(language_id as {{ dbt.type_bigint() }}) as language_id,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(bsp_status as {{ dbt.type_string() }}) as bsp_status,
        cast(optin_time as {{ type_timestamp_utc() }}) as optin_time,
        cast(optout_time as {{ type_timestamp_utc() }}) as optout_time,
        cast(inserted_at as {{ type_timestamp_utc() }}) as inserted_at,
        cast(updated_at as {{ type_timestamp_utc() }}) as updated_at,
        cast(_tw_extracted_at as {{ type_timestamp_utc() }}) as extracted_at,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as dlt_load_id,
        cast(_dlt_id as {{ dbt.type_string() }}) as dlt_id

    from source

),

deduped as (

    {{ dedupe_latest(
        'renamed',
        'instance_id, contact_id',
        'updated_at desc nulls last, dlt_load_id desc, dlt_id desc'
    ) }}

),

final as (

    select
        instance_id,
        contact_id,
        organization_id,
        name_hash,
        phone_hash,
        language_id,
        status,
        bsp_status,
        optin_time,
        optout_time,
        inserted_at,
        updated_at,
        extracted_at,
        dlt_load_id

    from deduped

)

select * from final
