with

organizations as (

    select * from {{ ref('int_organizations_zoned') }}

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
        source_time_zone,
        is_time_zone_fallback,
        created_at,
        updated_at,
        deleted_at,
        is_deleted

    from organizations

)

select * from final
