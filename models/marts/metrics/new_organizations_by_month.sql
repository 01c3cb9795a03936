with

organizations as (

    select * from {{ ref('dim_organizations') }}

),

instances as (

    select * from {{ ref('contract_instances') }}

),

localized as (

    select
        organizations.instance_id,
        organizations.kind,
        {{ period_start('month', to_local_time('organizations.created_at', 'instances.time_zone')) }}
            as month_start

    from organizations
    inner join instances
        on organizations.instance_id = instances.instance_id

),

final as (

    select
        instance_id,
        month_start,
        kind,
        count(*) as new_organizations

    from localized

    group by
        instance_id,
        month_start,
        kind

)

select * from final
