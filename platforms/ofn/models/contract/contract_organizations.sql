-- OFN enterprises are the tenants. What OFN does not have:
--   * no time zone: null, so the instance's zone (ofn_instances) applies to every calendar;
--   * no plan: an enterprise is billed by what it sells (own: a shop, any: a hub), which is
--     the plan; one that sells none (a producer or a profile) has no plan and is not billed;
--   * no soft delete: deleted_at is always null.
-- kind: hub (sells any), shop (own), producer (none, primary producer), profile (none).
-- No quarantine reason: every enterprise row is usable (ids and created_at are NOT NULL).
with

enterprises as (

    select * from {{ ref('stg_ofn__enterprises') }}

),

mapped as (

    select
        instance_id,
        enterprise_id as organization_id,
        enterprise_name as organization_name,
        created_at,
        updated_at,
        extracted_at,
        dlt_load_id,
        case
            when sells = 'any' then 'hub'
            when sells = 'own' then 'shop'
            when is_primary_producer then 'producer'
            else 'profile'
        end as kind,
        case when sells in ('own', 'any') then sells end as plan

    from enterprises

),

final as (

    select
        instance_id,
        organization_id,
        {{ tenant_id() }} as tenant_id,
        organization_name,
        kind,
        plan,
        cast(null as {{ dbt.type_string() }}) as time_zone,
        created_at,
        updated_at,
        cast(null as {{ type_timestamp_utc() }}) as deleted_at,
        false as is_deleted,
        extracted_at,
        dlt_load_id,
        cast(null as {{ dbt.type_string() }}) as quarantine_reason

    from mapped

)

select * from final
