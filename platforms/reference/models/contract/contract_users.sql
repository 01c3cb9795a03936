with

users as (

    select * from {{ ref('stg_platform__users') }}

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        user_id,
        name_hash,
        email_hash,
        phone_hash,
        role,
        created_at,
        updated_at,
        deleted_at,
        is_deleted,
        extracted_at,
        dlt_load_id,
        quarantine_reason

    from users

)

select * from final
