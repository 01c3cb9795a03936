with

organizations as (

    select * from {{ ref('stg_platform__organizations') }}

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        organization_name,
        kind,
        plan,
        time_zone,
        created_at,
        updated_at,
        deleted_at,
        is_deleted

    from organizations

    where quarantine_reason is null

)

select * from final
