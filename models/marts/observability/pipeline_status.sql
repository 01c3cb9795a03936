{#-
    The state of every (instance, table) the ingestion layer has run: the latest run, the last
    success and failure, the current failure streak, and how far the warehouse lags behind the
    source (seconds since the last successful run started: rows changed after that instant may
    not be in the warehouse yet). A view, so the lag is as of the query.
-#}
with

run_records as (

    select * from {{ ref('stg_monitoring__ingestion_runs') }}

    -- Skipped records did not try to read the source: they neither fail nor refresh a table.
    where status <> 'skipped'

),

-- A run of a table can have two records, the incremental read and a reconciliation: the run
-- failed if either did.
runs as (

    select
        run_id,
        instance_id,
        table_name,
        min(started_at) as started_at,
        max(ended_at) as ended_at,
        case when {{ dbt.bool_or('is_failed') }} then 'failed' else 'success' end as status,
        cast(sum(rows_extracted) as {{ dbt.type_bigint() }}) as rows_extracted,
        max(case when is_failed then error_message end) as error_message,
        {{ dbt.bool_or('is_failed') }} as is_failed,
        not {{ dbt.bool_or('is_failed') }} as is_success

    from run_records

    group by run_id, instance_id, table_name

),

row_counts as (

    select * from {{ ref('stg_monitoring__row_counts') }}

),

runs_ranked as (

    select
        instance_id,
        table_name,
        run_id,
        status,
        started_at,
        ended_at,
        rows_extracted,
        is_failed,
        row_number() over (
            partition by instance_id, table_name
            order by started_at desc, ended_at desc, run_id desc
        ) as run_recency

    from runs

),

latest_runs as (

    select * from runs_ranked

    where run_recency = 1

),

successes as (

    select
        instance_id,
        table_name,
        max(started_at) as data_as_of,
        max(ended_at) as last_success_at

    from runs

    where is_success

    group by instance_id, table_name

),

failures_ranked as (

    select
        instance_id,
        table_name,
        ended_at,
        error_message,
        row_number() over (
            partition by instance_id, table_name
            order by started_at desc, ended_at desc, run_id desc
        ) as failure_recency

    from runs

    where is_failed

),

latest_failures as (

    select * from failures_ranked

    where failure_recency = 1

),

-- Failed runs after the last success: the current failure streak (if the latest run failed).
failure_streaks as (

    select
        runs.instance_id,
        runs.table_name,
        min(runs.started_at) as failing_since,
        count(*) as consecutive_failures

    from runs
    left join successes
        on
            runs.instance_id = successes.instance_id
            and runs.table_name = successes.table_name

    where
        runs.is_failed
        and (successes.data_as_of is null or runs.started_at > successes.data_as_of)

    group by runs.instance_id, runs.table_name

),

row_counts_ranked as (

    select
        instance_id,
        table_name,
        captured_at,
        row_count,
        max_updated_at,
        row_number() over (
            partition by instance_id, table_name
            order by captured_at desc, capture_id desc
        ) as capture_recency

    from row_counts

),

latest_row_counts as (

    select * from row_counts_ranked

    where capture_recency = 1

),

final as (

    select
        latest_runs.instance_id,
        latest_runs.table_name,
        latest_runs.run_id as last_run_id,
        latest_runs.status as last_status,
        latest_runs.started_at as last_run_started_at,
        latest_runs.ended_at as last_run_ended_at,
        latest_runs.rows_extracted as last_rows_extracted,
        successes.last_success_at,
        successes.data_as_of,
        latest_failures.ended_at as last_failure_at,
        latest_failures.error_message as last_error_message,
        case when latest_runs.is_failed then failure_streaks.failing_since end as failing_since,
        cast(
            case when latest_runs.is_failed then failure_streaks.consecutive_failures else 0 end
            as {{ dbt.type_bigint() }}
        ) as consecutive_failures,
        {{ seconds_between('successes.data_as_of', dbt.current_timestamp()) }} as lag_seconds,
        latest_row_counts.row_count,
        latest_row_counts.max_updated_at as last_changed_at,
        latest_row_counts.captured_at as row_count_captured_at,
        latest_runs.is_failed as is_failing

    from latest_runs
    left join successes
        on
            latest_runs.instance_id = successes.instance_id
            and latest_runs.table_name = successes.table_name
    left join latest_failures
        on
            latest_runs.instance_id = latest_failures.instance_id
            and latest_runs.table_name = latest_failures.table_name
    left join failure_streaks
        on
            latest_runs.instance_id = failure_streaks.instance_id
            and latest_runs.table_name = failure_streaks.table_name
    left join latest_row_counts
        on
            latest_runs.instance_id = latest_row_counts.instance_id
            and latest_runs.table_name = latest_row_counts.table_name

)

select * from final
