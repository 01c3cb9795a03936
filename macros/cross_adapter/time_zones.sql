{#-
    to_local_time(timestamp_utc, time_zone): the wall-clock time (a timestamp without time zone;
    a DATETIME on BigQuery) of the UTC instant `timestamp_utc` in the IANA `time_zone`.
    Both arguments are SQL expressions: a column, or a quoted literal such as "'UTC'".

    from_local_time(local_timestamp, time_zone): the inverse, the UTC instant of a wall-clock
    time (or a date, taken at midnight) in `time_zone`.
-#}
{% macro to_local_time(timestamp_utc, time_zone) -%}
    {{ return(adapter.dispatch('to_local_time', 'tenant_warehouse')(timestamp_utc, time_zone)) }}
{%- endmacro %}

{#- PostgreSQL: timestamptz AT TIME ZONE zone gives the local timestamp without time zone. -#}
{% macro default__to_local_time(timestamp_utc, time_zone) -%}
    ({{ timestamp_utc }} at time zone {{ time_zone }})
{%- endmacro %}

{#- DuckDB: AT TIME ZONE needs an ICU-aware cast; timezone(zone, timestamptz) is the documented form. -#}
{% macro duckdb__to_local_time(timestamp_utc, time_zone) -%}
    timezone({{ time_zone }}, {{ timestamp_utc }})
{%- endmacro %}

{#- BigQuery: TIMESTAMP is an instant; DATETIME(timestamp, zone) is its civil time in the zone. -#}
{% macro bigquery__to_local_time(timestamp_utc, time_zone) -%}
    datetime({{ timestamp_utc }}, {{ time_zone }})
{%- endmacro %}


{% macro from_local_time(local_timestamp, time_zone) -%}
    {{ return(adapter.dispatch('from_local_time', 'tenant_warehouse')(local_timestamp, time_zone)) }}
{%- endmacro %}

{#-
    PostgreSQL: timestamp AT TIME ZONE zone reads the wall-clock time in the zone and returns
    timestamptz. The cast matters: a date would otherwise be promoted to timestamptz in the
    session time zone first.
-#}
{% macro default__from_local_time(local_timestamp, time_zone) -%}
    (cast({{ local_timestamp }} as timestamp) at time zone {{ time_zone }})
{%- endmacro %}

{#- DuckDB: timezone(zone, timestamp) interprets the naive timestamp in the zone (ICU). -#}
{% macro duckdb__from_local_time(local_timestamp, time_zone) -%}
    timezone({{ time_zone }}, cast({{ local_timestamp }} as timestamp))
{%- endmacro %}

{#- BigQuery: TIMESTAMP(datetime, zone) builds the instant from a civil time. -#}
{% macro bigquery__from_local_time(local_timestamp, time_zone) -%}
    timestamp(cast({{ local_timestamp }} as datetime), {{ time_zone }})
{%- endmacro %}
