{#-
    The current state of every dbt node that has run (models, tests, seeds, snapshots, unit
    tests): its latest result, its last success, and the current streak of failures or warnings
    (`failing_since`, null when the latest result succeeded). Skipped results are ignored: a node
    skipped because an upstream one failed keeps the state of its last real run.
-#}
with

dbt_results as (

    select * from {{ ref('stg_monitoring__dbt_results') }}

    where status <> 'skipped' and resource_type <> 'source'

),

results_ranked as (

    select
        unique_id,
        resource_type,
        node_name,
        relation_name,
        attached_node,
        column_name,
        invocation_id,
        status,
        completed_at,
        failures,
        message,
        is_failure,
        is_warning,
        row_number() over (
            partition by unique_id
            order by completed_at desc, invocation_id desc
        ) as result_recency

    from dbt_results

),

latest_results as (

    select * from results_ranked

    where result_recency = 1

),

successes as (

    select
        unique_id,
        max(completed_at) as last_success_at

    from dbt_results

    where is_success

    group by unique_id

),

streaks as (

    select
        dbt_results.unique_id,
        min(dbt_results.completed_at) as failing_since,
        count(*) as consecutive_failures

    from dbt_results
    left join successes
        on dbt_results.unique_id = successes.unique_id

    where
        (dbt_results.is_failure or dbt_results.is_warning)
        and (
            successes.last_success_at is null
            or dbt_results.completed_at > successes.last_success_at
        )

    group by dbt_results.unique_id

),

final as (

    select
        latest_results.unique_id,
        latest_results.resource_type,
        latest_results.node_name,
        latest_results.relation_name,
        latest_results.attached_node,
        latest_results.column_name,
        latest_results.invocation_id as last_invocation_id,
        latest_results.status as last_status,
        latest_results.completed_at as last_run_at,
        latest_results.failures as last_failures,
        latest_results.message as last_message,
        successes.last_success_at,
        case
            when latest_results.is_failure or latest_results.is_warning
                then streaks.failing_since
        end as failing_since,
        cast(
            case
                when latest_results.is_failure or latest_results.is_warning
                    then streaks.consecutive_failures
                else 0
            end
            as {{ dbt.type_bigint() }}
        ) as consecutive_failures,
        latest_results.is_failure as is_failing,
        latest_results.is_warning

    from latest_results
    left join successes
        on latest_results.unique_id = successes.unique_id
    left join streaks
        on latest_results.unique_id = streaks.unique_id

)

select * from final
