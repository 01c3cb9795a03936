{#-
    Row-count trend per instance and raw table: every capture (taken after each ingestion run),
    its change since the previous capture, and a simple anomaly flag. The change is compared
    with the previous `row_count_window` changes: z = (change - mean) / standard deviation, with
    the deviation floored at one row so a perfectly regular table does not turn every one-row
    difference into an infinite z. `is_anomaly` when |z| > `row_count_z_threshold` and at least
    `row_count_min_history` previous changes exist; `anomaly_direction` says spike or drop.
-#}
{%- set window_rows = var('row_count_window') | int -%}

with

row_counts as (

    select * from {{ ref('stg_monitoring__row_counts') }}

),

changes as (

    select
        instance_id,
        table_name,
        captured_at,
        capture_id,
        row_count,
        row_count - lag(row_count) over (
            partition by instance_id, table_name
            order by captured_at, capture_id
        ) as row_count_change

    from row_counts

),

history as (

    select
        instance_id,
        table_name,
        captured_at,
        capture_id,
        row_count,
        row_count_change,
        avg(row_count_change) over preceding_changes as mean_change,
        stddev_samp(row_count_change) over preceding_changes as stddev_change,
        count(row_count_change) over preceding_changes as previous_changes

    from changes

    window preceding_changes as (
        partition by instance_id, table_name
        order by captured_at, capture_id
        rows between {{ window_rows }} preceding and 1 preceding
    )

),

scored as (

    select
        instance_id,
        table_name,
        captured_at,
        capture_id,
        row_count,
        row_count_change,
        mean_change,
        stddev_change,
        previous_changes,
        case
            when row_count_change is not null and previous_changes >= 2
                then (row_count_change - mean_change) / greatest(coalesce(stddev_change, 0), 1)
        end as z_score

    from history

),

final as (

    select
        instance_id,
        table_name,
        captured_at,
        capture_id,
        row_count,
        row_count_change,
        cast(round(mean_change, 4) as {{ type_decimal(18, 4) }}) as mean_change,
        cast(round(stddev_change, 4) as {{ type_decimal(18, 4) }}) as stddev_change,
        cast(previous_changes as {{ dbt.type_bigint() }}) as previous_changes,
        cast(round(z_score, 4) as {{ type_decimal(18, 4) }}) as z_score,
        coalesce(
            previous_changes >= {{ var('row_count_min_history') | int }}
            and abs(z_score) > {{ var('row_count_z_threshold') | float }},
            false
        ) as is_anomaly,
        case
            when
                previous_changes >= {{ var('row_count_min_history') | int }}
                and abs(z_score) > {{ var('row_count_z_threshold') | float }}
                then case when z_score < 0 then 'drop' else 'spike' end
        end as anomaly_direction

    from scored

)

select * from final
