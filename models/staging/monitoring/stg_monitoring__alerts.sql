with

source as (

    select * from {{ source('monitoring', 'alerts') }}

),

renamed as (

    select
        cast(recorded_at as {{ type_timestamp_utc() }}) as recorded_at,
        cast(alert_key as {{ dbt.type_string() }}) as alert_key,
        cast(rule_name as {{ dbt.type_string() }}) as rule_name,
        cast(event as {{ dbt.type_string() }}) as event_type,
        cast(severity as {{ dbt.type_string() }}) as severity,
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(table_name as {{ dbt.type_string() }}) as table_name,
        cast(tenant_id as {{ dbt.type_string() }}) as tenant_id,
        cast(title as {{ dbt.type_string() }}) as title,
        cast(body as {{ dbt.type_string() }}) as body,
        cast(since_at as {{ type_timestamp_utc() }}) as since_at,
        coalesce(cast(is_delivered as {{ dbt.type_boolean() }}), false) as is_delivered,
        cast(delivery_error as {{ dbt.type_string() }}) as delivery_error

    from source

),

final as (

    select * from renamed

)

select * from final
