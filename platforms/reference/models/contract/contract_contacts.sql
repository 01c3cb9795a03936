with

contacts as (

    select * from {{ ref('stg_platform__contacts') }}

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        contact_id,
        name_hash,
        email_hash,
        phone_hash,
        language,
        created_at,
        updated_at,
        extracted_at,
        dlt_load_id,
        quarantine_reason

    from contacts

)

select * from final
