-- Every plan an organization has had, as validity intervals [valid_from_at, valid_to_at)
-- from the organizations snapshot. History before the first snapshot is unknown and taken as
-- the first snapshot's plan: the first version is extended back to the organization's
-- creation. valid_to_at is the next version's start (null for the current one), or the time
-- the organization was found hard-deleted.
with

snapshot_versions as (

    select * from {{ ref('organizations_snapshot') }}

),

ordered as (

    select
        instance_id,
        organization_id,
        tenant_id,
        plan,
        created_at,
        dbt_valid_from,
        dbt_valid_to,
        row_number() over (
            partition by instance_id, organization_id
            order by dbt_valid_from, dbt_updated_at, dbt_scd_id
        ) as version_number,
        lead(dbt_valid_from) over (
            partition by instance_id, organization_id
            order by dbt_valid_from, dbt_updated_at, dbt_scd_id
        ) as next_valid_from

    from snapshot_versions

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        version_number,
        plan,
        cast(
            case
                when version_number = 1 and created_at < dbt_valid_from then created_at
                else dbt_valid_from
            end
            as {{ type_timestamp_utc() }}
        ) as valid_from_at,
        cast(coalesce(next_valid_from, dbt_valid_to) as {{ type_timestamp_utc() }}) as valid_to_at

    from ordered

)

select * from final
