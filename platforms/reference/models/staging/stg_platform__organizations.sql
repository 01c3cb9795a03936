-- The source's time zone as it is: the product checks it (int_organizations_zoned).
with

source as (

    select * from {{ source('platform', 'organizations') }}

),

renamed as (

    select
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(id as {{ dbt.type_bigint() }}) as organization_id,
        cast(name as {{ dbt.type_string() }}) as organization_name,
        cast(kind as {{ dbt.type_string() }}) as kind,
        cast(plan as {{ dbt.type_string() }}) as plan,
        cast(time_zone as {{ dbt.type_string() }}) as time_zone,
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
        'instance_id, organization_id',
        'updated_at desc nulls last, dlt_load_id desc, dlt_id desc'
    ) }}

),

final as (

    select
        instance_id,
        organization_id,
        {{ tenant_id() }} as tenant_id,
        organization_name,
        kind,
        plan,
        time_zone,
        created_at,
        updated_at,
        deleted_at,
        deleted_at is not null as is_deleted,
        extracted_at,
        dlt_load_id

    from deduped

)

select * from final
