with

source as (

    select * from {{ source('monitoring', 'dbt_results') }}

),

renamed as (

    select
        cast(invocation_id as {{ dbt.type_string() }}) as invocation_id,
        cast(command as {{ dbt.type_string() }}) as command,
        cast(target_name as {{ dbt.type_string() }}) as target_name,
        cast(invocation_started_at as {{ type_timestamp_utc() }}) as invocation_started_at,
        cast(unique_id as {{ dbt.type_string() }}) as unique_id,
        cast(resource_type as {{ dbt.type_string() }}) as resource_type,
        cast(node_name as {{ dbt.type_string() }}) as node_name,
        cast(relation_name as {{ dbt.type_string() }}) as relation_name,
        cast(attached_node as {{ dbt.type_string() }}) as attached_node,
        cast(column_name as {{ dbt.type_string() }}) as column_name,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(started_at as {{ type_timestamp_utc() }}) as started_at,
        cast(completed_at as {{ type_timestamp_utc() }}) as completed_at,
        cast(execution_seconds as {{ dbt.type_float() }}) as execution_seconds,
        cast(rows_affected as {{ dbt.type_bigint() }}) as rows_affected,
        cast(failures as {{ dbt.type_bigint() }}) as failures,
        cast(message as {{ dbt.type_string() }}) as message,
        cast(max_loaded_at as {{ type_timestamp_utc() }}) as max_loaded_at,
        cast(age_seconds as {{ dbt.type_float() }}) as age_seconds,
        cast(recorded_at as {{ type_timestamp_utc() }}) as recorded_at

    from source

),

final as (

    select
        invocation_id,
        command,
        target_name,
        invocation_started_at,
        unique_id,
        resource_type,
        node_name,
        relation_name,
        attached_node,
        column_name,
        status,
        execution_seconds,
        rows_affected,
        failures,
        message,
        max_loaded_at,
        age_seconds,
        recorded_at,
        -- A node that did not run (upstream failed, or a runtime error before it started) has
        -- no timings: the time the result was recorded stands in.
        coalesce(started_at, recorded_at) as started_at,
        coalesce(completed_at, recorded_at) as completed_at,
        -- A freshness `error` means stale data, not a broken pipeline; only its runtime errors
        -- are failures.
        (
            status in ('error', 'fail', 'runtime error')
            and (resource_type <> 'source' or status = 'runtime error')
        ) as is_failure,
        status = 'warn' as is_warning,
        status in ('success', 'pass') as is_success,
        (resource_type = 'source' and status in ('warn', 'error')) as is_stale

    from renamed

)

select * from final
