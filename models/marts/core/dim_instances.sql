with

instances as (

    select * from {{ ref('contract_instances') }}

),

final as (

    select
        instance_id,
        instance_name,
        currency,
        time_zone

    from instances

)

select * from final
