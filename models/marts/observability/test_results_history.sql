{#-
    Every data test and unit test result of every dbt invocation: what it tested (the model,
    seed, snapshot or source it is attached to, and the column), its status, and how many rows
    failed it.
-#}
with

dbt_results as (

    select * from {{ ref('stg_monitoring__dbt_results') }}

    where resource_type in ('test', 'unit_test')

),

final as (

    select
        invocation_id,
        unique_id,
        node_name as test_name,
        resource_type,
        attached_node,
        column_name,
        command,
        target_name,
        status,
        failures,
        message,
        started_at,
        completed_at as executed_at,
        cast(execution_seconds as {{ type_decimal(12, 3) }}) as execution_seconds,
        is_failure,
        is_warning

    from dbt_results

)

select * from final
