-- Glific's instances, from the profile's seed. Glific handles no money: currency is null.
with

instances as (

    select * from {{ ref('glific_instances') }}

),

final as (

    select
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(instance_name as {{ dbt.type_string() }}) as instance_name,
        cast(null as {{ dbt.type_string() }}) as currency,
        cast(time_zone as {{ dbt.type_string() }}) as time_zone

    from instances

)

select * from final
