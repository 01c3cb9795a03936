{#-
    One row per dbt invocation: its command, when it ran, and how its nodes ended. `status` is
    failed when a node failed (freshness staleness is not a failure), warned when one only
    warned, else success.
-#}
with

dbt_results as (

    select * from {{ ref('stg_monitoring__dbt_results') }}

),

invocations as (

    select
        invocation_id,
        min(command) as command,
        min(target_name) as target_name,
        min(started_at) as started_at,
        max(completed_at) as completed_at,
        count(*) as nodes,
        sum(case when is_success then 1 else 0 end) as succeeded_nodes,
        sum(case when is_failure then 1 else 0 end) as failed_nodes,
        sum(case when is_warning then 1 else 0 end) as warned_nodes,
        sum(case when status = 'skipped' then 1 else 0 end) as skipped_nodes,
        sum(case when is_stale then 1 else 0 end) as stale_sources

    from dbt_results

    group by invocation_id

),

final as (

    select
        invocation_id,
        command,
        target_name,
        started_at,
        completed_at,
        cast(nodes as {{ dbt.type_bigint() }}) as nodes,
        cast(succeeded_nodes as {{ dbt.type_bigint() }}) as succeeded_nodes,
        cast(failed_nodes as {{ dbt.type_bigint() }}) as failed_nodes,
        cast(warned_nodes as {{ dbt.type_bigint() }}) as warned_nodes,
        cast(skipped_nodes as {{ dbt.type_bigint() }}) as skipped_nodes,
        cast(stale_sources as {{ dbt.type_bigint() }}) as stale_sources,
        cast(
            case
                when failed_nodes > 0 then 'failed'
                when warned_nodes > 0 then 'warned'
                else 'success'
            end
            as {{ dbt.type_string() }}
        ) as status

    from invocations

)

select * from final
