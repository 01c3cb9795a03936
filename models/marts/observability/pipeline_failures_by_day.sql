{#-
    Failure percentage over time: per UTC day, the share of failed ingestion runs per instance
    and of failed dbt nodes per resource type (skipped ones excluded; a stale freshness check is
    not a failure, see stg_monitoring__dbt_results.is_failure).
-#}
with

run_records as (

    select * from {{ ref('stg_monitoring__ingestion_runs') }}

    where status <> 'skipped'

),

-- One run of a table (incremental read and reconciliation together) counts once.
ingestion_runs as (

    select
        run_id,
        instance_id,
        table_name,
        min(started_at) as started_at,
        {{ dbt.bool_or('is_failed') }} as is_failed

    from run_records

    group by run_id, instance_id, table_name

),

dbt_results as (

    select * from {{ ref('stg_monitoring__dbt_results') }}

    where status <> 'skipped'

),

ingestion_by_day as (

    select
        cast({{ to_local_time('started_at', "'UTC'") }} as date) as run_date,
        'ingestion' as step,
        instance_id as scope,
        count(*) as runs,
        sum(case when is_failed then 1 else 0 end) as failed_runs,
        0 as warned_runs

    from ingestion_runs

    group by cast({{ to_local_time('started_at', "'UTC'") }} as date), instance_id

),

dbt_by_day as (

    select
        cast({{ to_local_time('started_at', "'UTC'") }} as date) as run_date,
        'dbt' as step,
        resource_type as scope,
        count(*) as runs,
        sum(case when is_failure then 1 else 0 end) as failed_runs,
        sum(case when is_warning then 1 else 0 end) as warned_runs

    from dbt_results

    group by cast({{ to_local_time('started_at', "'UTC'") }} as date), resource_type

),

unioned as (

    select * from ingestion_by_day
    union all
    select * from dbt_by_day

),

final as (

    select
        run_date,
        cast(step as {{ dbt.type_string() }}) as step,
        cast(scope as {{ dbt.type_string() }}) as scope,
        cast(runs as {{ dbt.type_bigint() }}) as runs,
        cast(failed_runs as {{ dbt.type_bigint() }}) as failed_runs,
        cast(warned_runs as {{ dbt.type_bigint() }}) as warned_runs,
        cast(round(100.0 * failed_runs / runs, 2) as {{ type_decimal(5, 2) }}) as failure_percent

    from unioned

)

select * from final
