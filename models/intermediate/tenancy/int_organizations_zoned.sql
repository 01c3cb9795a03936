-- Every valid organization with the time zone its numbers are counted in. A source without a
-- time zone for its organizations (null) counts them on their instance's calendar. One bad
-- attribute does not take an organization's history out of the marts: an organization whose
-- time zone is not a valid IANA name (seed time_zones) keeps its rows, counted on its
-- instance's time zone, with is_time_zone_fallback true; source_time_zone keeps the source's
-- value, which dq_quarantined_rows names (invalid_time_zone).
with

organizations as (

    select * from {{ ref('contract_organizations') }}

),

instances as (

    select * from {{ ref('contract_instances') }}

),

accepted_time_zones as (

    select time_zone from {{ ref('time_zones') }}

),

checked as (

    select
        organizations.*,
        organizations.time_zone is not null
        and organizations.time_zone not in (
            select accepted_time_zones.time_zone from accepted_time_zones
        ) as is_time_zone_invalid

    from organizations

    where organizations.quarantine_reason is null

),

final as (

    select
        checked.instance_id,
        checked.organization_id,
        checked.tenant_id,
        checked.organization_name,
        checked.kind,
        checked.plan,
        checked.time_zone as source_time_zone,
        checked.created_at,
        checked.updated_at,
        checked.deleted_at,
        checked.is_deleted,
        checked.extracted_at,
        checked.dlt_load_id,
        checked.is_time_zone_invalid as is_time_zone_fallback,
        case
            when checked.time_zone is null or checked.is_time_zone_invalid then instances.time_zone
            else checked.time_zone
        end as time_zone

    from checked
    left join instances
        on checked.instance_id = instances.instance_id

)

select * from final
