{#- Incremental: a cycle stages only the loads it has not seen (raw_rows_since_staged), so
    the tests and models downstream read a table instead of deduplicating raw again. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy=upsert_strategy(),
        unique_key=['instance_id', 'message_id'],
        on_schema_change='append_new_columns',
        cluster_by=['instance_id', 'organization_id'],
        post_hook="{{ delete_rows_missing_from(source('platform', 'messages'), ['instance_id', 'message_id'], ['instance_id', 'id']) }}",
    )
}}

with

source as (

    {{ raw_rows_since_staged(source('platform', 'messages')) }}

),

renamed as (

    select
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(organization_id as {{ dbt.type_bigint() }}) as organization_id,
        cast(id as {{ dbt.type_bigint() }}) as message_id,
        cast(contact_id as {{ dbt.type_bigint() }}) as contact_id,
        cast(direction as {{ dbt.type_string() }}) as direction,
        cast(status as {{ dbt.type_string() }}) as status,
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
        'instance_id, message_id',
        'updated_at desc nulls last, dlt_load_id desc, dlt_id desc'
    ) }}

),

final as (

    select
        instance_id,
        organization_id,
        {{ tenant_id() }} as tenant_id,
        message_id,
        contact_id,
        direction,
        status,
        created_at,
        updated_at,
        extracted_at,
        dlt_load_id,
        case
            when organization_id is null then 'missing_tenant'
        end as quarantine_reason

    from deduped

)

select * from final
