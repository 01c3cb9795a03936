{#-
    seconds_between(start_timestamp, end_timestamp): whole seconds from one UTC instant to
    another (bigint; negative when `end_timestamp` is earlier). Used for run durations and lags.
-#}
{% macro seconds_between(start_timestamp, end_timestamp) -%}
    {{ return(adapter.dispatch('seconds_between', 'tenant_warehouse')(start_timestamp, end_timestamp)) }}
{%- endmacro %}

{#-
    PostgreSQL: subtracting timestamptz values gives an interval; its epoch is the exact number
    of seconds (dbt.datediff would go through dates and the session time zone).
-#}
{% macro default__seconds_between(start_timestamp, end_timestamp) -%}
    cast(floor(extract(epoch from ({{ end_timestamp }} - {{ start_timestamp }}))) as {{ dbt.type_bigint() }})
{%- endmacro %}

{#- DuckDB: epoch_us of a timestamptz is the instant in microseconds since 1970 (UTC). -#}
{% macro duckdb__seconds_between(start_timestamp, end_timestamp) -%}
    cast(floor((epoch_us({{ end_timestamp }}) - epoch_us({{ start_timestamp }})) / 1000000) as {{ dbt.type_bigint() }})
{%- endmacro %}

{#- BigQuery: TIMESTAMP_DIFF counts whole seconds between two instants. -#}
{% macro bigquery__seconds_between(start_timestamp, end_timestamp) -%}
    timestamp_diff({{ end_timestamp }}, {{ start_timestamp }}, second)
{%- endmacro %}
