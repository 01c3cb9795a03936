{#-
    on-run-end: append one row per executed node of this invocation (models, tests, seeds,
    snapshots, unit tests, and source freshness checks) to the monitoring table `dbt_results`,
    so every dbt invocation is recorded in the warehouse, whoever ran it and however it ended.
    Batches keep each statement small (BigQuery limits a query's length). Disabled with
    `--vars '{tw_monitoring_hooks: false}'`. Only prod targets record (tw_is_prod_target): a dev
    build into its own schemas must neither raise nor hide prod's alerts.
-#}
{% macro persist_run_results(results) -%}
    {%- if execute and var('tw_monitoring_hooks', true) and tw_is_prod_target() and results -%}
        {%- set rows = [] -%}
        {%- for result in results -%}
            {%- do rows.append(monitoring_result_row(result)) -%}
        {%- endfor -%}
        {%- for batch in rows | batch(100) -%}
            {%- do run_query(monitoring_insert_sql('dbt_results', batch)) -%}
        {%- endfor -%}
        {{ log("monitoring: recorded " ~ rows | length ~ " node results of invocation " ~ invocation_id, info=false) }}
    {%- endif -%}
    select 1 as run_results_recorded
{%- endmacro %}


{#- The row of one RunResult (or SourceFreshnessResult), as Python values. -#}
{% macro monitoring_result_row(result) -%}
    {%- set node = result.node -%}
    {%- set started = [] -%}
    {%- set completed = [] -%}
    {%- for timing in result.timing or [] -%}
        {%- if timing.started_at is not none -%}{%- do started.append(timing.started_at) -%}{%- endif -%}
        {%- if timing.completed_at is not none -%}{%- do completed.append(timing.completed_at) -%}{%- endif -%}
    {%- endfor -%}
    {%- set response = result.adapter_response or {} -%}
    {%- set rows_affected = response.get('rows_affected') -%}
    {%- set is_test = node.resource_type in ('test', 'unit_test') -%}
    {%- set message = result.message -%}
    {{ return({
        'invocation_id': invocation_id,
        'command': flags.WHICH,
        'target_name': target.name,
        'invocation_started_at': run_started_at,
        'unique_id': node.unique_id,
        'resource_type': node.resource_type | string,
        'node_name': node.name,
        'relation_name': node.relation_name if node.relation_name is defined else none,
        'attached_node': node.attached_node if is_test and node.attached_node is defined else none,
        'column_name': node.column_name if is_test and node.column_name is defined else none,
        'status': result.status | string,
        'started_at': started | min if started else none,
        'completed_at': completed | max if completed else none,
        'execution_seconds': result.execution_time,
        'rows_affected': rows_affected if rows_affected is not none and rows_affected >= 0 else none,
        'failures': result.failures if result.failures is defined else none,
        'message': (message | string)[:2000] if message is not none else none,
        'max_loaded_at': result.max_loaded_at if result.max_loaded_at is defined else none,
        'age_seconds': result.age if result.age is defined else none,
        'recorded_at': modules.datetime.datetime.now(modules.pytz.utc),
    }) }}
{%- endmacro %}
