-- Glific's messages, one row per (instance_id, message_id), in Glific's vocabulary: `flow` is
-- the direction (inbound/outbound, nullable), `bsp_status` the provider's delivery status
-- (message_status_enum). Messages of an erased contact are gone (cascade, then reconciliation).
with

source as (

    select * from {{ source('platform', 'messages') }}

),

renamed as (

    select
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(id as {{ dbt.type_bigint() }}) as message_id,
        cast(organization_id as {{ dbt.type_bigint() }}) as organization_id,
        cast(contact_id as {{ dbt.type_bigint() }}) as contact_id,
        cast(sender_id as {{ dbt.type_bigint() }}) as sender_id,
        cast(receiver_id as {{ dbt.type_bigint() }}) as receiver_id,
        cast(flow as {{ dbt.type_string() }}) as flow,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(bsp_status as {{ dbt.type_string() }}) as bsp_status,
        cast(type as {{ dbt.type_string() }}) as message_type,
        cast(flow_id as {{ dbt.type_bigint() }}) as flow_id,
        cast(sent_at as {{ type_timestamp_utc() }}) as sent_at,
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
        'instance_id, message_id',
        'updated_at desc nulls last, dlt_load_id desc, dlt_id desc'
    ) }}

),

final as (

    select
        instance_id,
        message_id,
        organization_id,
        contact_id,
        sender_id,
        receiver_id,
        flow,
        status,
        bsp_status,
        message_type,
        flow_id,
        sent_at,
        inserted_at,
        updated_at,
        extracted_at,
        dlt_load_id

    from deduped

)

select * from final
