-- Every plan an organization has had, as validity intervals [valid_from_at, valid_to_at)
-- from the organizations snapshot. History before the first snapshot is unknown and taken as
-- the first snapshot's plan: the first version is extended back to the organization's
-- creation. valid_to_at is the next version's start (null for the current one), or the time
-- the organization was found hard-deleted. A platform that knows its plan history itself
-- (entity plan_history) provides it instead, as it is.
{{ config(enabled=platform_has('orders') and platform_has('plan_prices')) }}

{% if platform_has('plan_history') %}

with

plan_history as (

    select * from {{ ref('contract_plan_history') }}

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        row_number() over (
            partition by instance_id, organization_id
            order by valid_from_at
        ) as version_number,
        plan,
        cast(valid_from_at as {{ type_timestamp_utc() }}) as valid_from_at,
        cast(valid_to_at as {{ type_timestamp_utc() }}) as valid_to_at

    from plan_history

)

select * from final

{% else %}

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

{% endif %}
