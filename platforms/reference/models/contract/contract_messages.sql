with

messages as (

    select * from {{ ref('stg_platform__messages') }}

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        message_id,
        contact_id,
        direction,
        status,
        created_at,
        updated_at,
        extracted_at,
        dlt_load_id,
        quarantine_reason

    from messages

)

select * from final
