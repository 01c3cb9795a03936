-- The plan history of an organization has no gap and no overlap: each version ends where the
-- next one starts, and only the last version may be open (or ended by a hard delete).
{{ config(enabled=platform_has('orders') and platform_has('plan_prices')) }}

with

versions as (

    select * from {{ ref('int_organization_plans_historized') }}

),

paired as (

    select
        this_version.tenant_id,
        this_version.version_number,
        this_version.valid_to_at,
        next_version.valid_from_at as next_valid_from_at

    from versions as this_version
    inner join versions as next_version
        on
            this_version.instance_id = next_version.instance_id
            and this_version.organization_id = next_version.organization_id
            and next_version.version_number = this_version.version_number + 1

),

final as (

    select * from paired

    where valid_to_at is null or valid_to_at <> next_valid_from_at

)

select * from final
