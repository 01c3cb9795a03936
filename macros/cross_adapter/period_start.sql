{#-
    period_start(period, local_timestamp): the date the period ('day', 'week' or 'month')
    containing `local_timestamp` starts on. Weeks are ISO weeks, starting on Monday.
    Pass a local (wall-clock) timestamp or a date, see to_local_time; the cast keeps
    PostgreSQL from promoting a date to timestamptz in the session time zone.
-#}
{% macro period_start(period, local_timestamp) -%}
    {%- if period not in ('day', 'week', 'month') -%}
        {{ exceptions.raise_compiler_error("period_start: period must be day, week or month, not " ~ period) }}
    {%- endif -%}
    {{ return(adapter.dispatch('period_start', 'tenant_warehouse')(period, local_timestamp)) }}
{%- endmacro %}

{#- PostgreSQL and DuckDB: date_trunc('week', ...) already starts weeks on Monday (ISO). -#}
{% macro default__period_start(period, local_timestamp) -%}
    cast(date_trunc('{{ period }}', cast({{ local_timestamp }} as timestamp)) as date)
{%- endmacro %}

{#-
    BigQuery: DATE_TRUNC takes the part second and unquoted, and WEEK means weeks starting on
    Sunday; ISOWEEK starts them on Monday.
-#}
{% macro bigquery__period_start(period, local_timestamp) -%}
    {%- set part = 'isoweek' if period == 'week' else period -%}
    date_trunc(cast({{ local_timestamp }} as date), {{ part }})
{%- endmacro %}


{#-
    month_starts_between(first_month, last_month): a query with one column, `month_start`
    (date), one row per month from `first_month` to `last_month` inclusive. Both arguments are
    SQL expressions of month-start dates; scalar subqueries are fine.
-#}
{% macro month_starts_between(first_month, last_month) -%}
    {{ return(adapter.dispatch('month_starts_between', 'tenant_warehouse')(first_month, last_month)) }}
{%- endmacro %}

{#- PostgreSQL and DuckDB: generate_series over timestamps, one per month (bounds inclusive). -#}
{% macro default__month_starts_between(first_month, last_month) -%}
    select cast(series.month_start as date) as month_start
    from generate_series(
        cast({{ first_month }} as timestamp),
        cast({{ last_month }} as timestamp),
        interval '1 month'
    ) as series (month_start)
{%- endmacro %}

{#- BigQuery: no generate_series; GENERATE_DATE_ARRAY builds the months as an array to unnest. -#}
{% macro bigquery__month_starts_between(first_month, last_month) -%}
    select month_start
    from unnest(generate_date_array(
        cast({{ first_month }} as date),
        cast({{ last_month }} as date),
        interval 1 month
    )) as month_start
{%- endmacro %}


{#-
    subtract_days(timestamp_expression, days): the instant `days` days earlier (a timestamp
    with time zone in, the same type out). `days` is a number.
-#}
{% macro subtract_days(timestamp_expression, days) -%}
    {{ return(adapter.dispatch('subtract_days', 'tenant_warehouse')(timestamp_expression, days)) }}
{%- endmacro %}

{#- PostgreSQL and DuckDB: interval arithmetic on timestamptz keeps the type. -#}
{% macro default__subtract_days(timestamp_expression, days) -%}
    ({{ timestamp_expression }} - interval '{{ days | int }} days')
{%- endmacro %}

{#- BigQuery: no timestamp - interval operator; TIMESTAMP_SUB keeps a TIMESTAMP (dbt.dateadd would return a DATETIME). -#}
{% macro bigquery__subtract_days(timestamp_expression, days) -%}
    timestamp_sub({{ timestamp_expression }}, interval {{ days | int }} day)
{%- endmacro %}
