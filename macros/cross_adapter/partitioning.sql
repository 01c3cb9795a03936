{#-
    partition_by_config(field, data_type='timestamp', granularity='day'): the partition_by
    config of the large incremental facts, for the warehouses that partition tables that way.
    Use it as `partition_by=partition_by_config('created_at', granularity='month')`.
-#}
{% macro partition_by_config(field, data_type='timestamp', granularity='day') -%}
    {{ return(adapter.dispatch('partition_by_config', 'tenant_warehouse')(field, data_type, granularity)) }}
{%- endmacro %}

{#-
    PostgreSQL and DuckDB: none. dbt-duckdb reads partition_by as its own setting (Hive/DuckLake
    partitioned writes) and rejects BigQuery's dict; PostgreSQL tables here are not partitioned.
-#}
{% macro default__partition_by_config(field, data_type='timestamp', granularity='day') -%}
    {{ return(none) }}
{%- endmacro %}

{#- BigQuery: partition on the date of `field` so lookback merges and date filters prune. -#}
{% macro bigquery__partition_by_config(field, data_type='timestamp', granularity='day') -%}
    {{ return({'field': field, 'data_type': data_type, 'granularity': granularity}) }}
{%- endmacro %}
