-- Every organization with the time zone its numbers are counted in. One bad attribute does not
-- take an organization's history out of the marts: an organization whose time zone is not a
-- valid IANA name (the staging quarantine reason invalid_time_zone) keeps its rows, counted on
-- its instance's time zone, with is_time_zone_fallback true; source_time_zone keeps the
-- source's value, which dq_quarantined_rows names.
with

organizations as (

    select * from {{ ref('stg_platform__organizations') }}

),

instances as (

    select * from {{ ref('instances') }}

),

final as (

    select
        organizations.instance_id,
        organizations.organization_id,
        organizations.tenant_id,
        organizations.organization_name,
        organizations.kind,
        organizations.plan,
        organizations.time_zone as source_time_zone,
        organizations.created_at,
        organizations.updated_at,
        organizations.deleted_at,
        organizations.is_deleted,
        organizations.extracted_at,
        organizations.dlt_load_id,
        case
            when organizations.quarantine_reason = 'invalid_time_zone' then instances.time_zone
            else organizations.time_zone
        end as time_zone,
        coalesce(organizations.quarantine_reason = 'invalid_time_zone', false)
            as is_time_zone_fallback

    from organizations
    left join instances
        on organizations.instance_id = instances.instance_id

)

select * from final
