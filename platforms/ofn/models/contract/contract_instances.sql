-- The OFN instances: the profile seed, as the contract names it.
with

instances as (

    select * from {{ ref('ofn_instances') }}

),

final as (

    select
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(instance_name as {{ dbt.type_string() }}) as instance_name,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(time_zone as {{ dbt.type_string() }}) as time_zone

    from instances

)

select * from final
