{#-
    Column types the marts' contracts declare (`data_type:` in the models yml files), named once
    per adapter. Text, integers, booleans and dates use dbt's own type_* macros.
-#}

{#- type_timestamp_utc(): an instant (timestamp with time zone). -#}
{% macro type_timestamp_utc() -%}
    {{ return(adapter.dispatch('type_timestamp_utc', 'tenant_warehouse')()) }}
{%- endmacro %}

{#- PostgreSQL and DuckDB: `timestamp` alone is without time zone; instants need timestamptz. -#}
{% macro default__type_timestamp_utc() -%}
    {{ return('timestamp with time zone') }}
{%- endmacro %}

{#- BigQuery: TIMESTAMP is the instant type (DATETIME is the one without time zone). -#}
{% macro bigquery__type_timestamp_utc() -%}
    {{ return('timestamp') }}
{%- endmacro %}


{#- type_decimal(precision, scale): an exact decimal number. -#}
{% macro type_decimal(precision, scale) -%}
    {{ return(adapter.dispatch('type_decimal', 'tenant_warehouse')(precision, scale)) }}
{%- endmacro %}

{#- PostgreSQL and BigQuery: NUMERIC(p, s) (a parameterized NUMERIC on BigQuery). -#}
{% macro default__type_decimal(precision, scale) -%}
    {{ return('numeric(' ~ precision ~ ', ' ~ scale ~ ')') }}
{%- endmacro %}

{#- DuckDB: NUMERIC without parameters means DECIMAL(18, 3); its own name is DECIMAL(p, s). -#}
{% macro duckdb__type_decimal(precision, scale) -%}
    {{ return('decimal(' ~ precision ~ ', ' ~ scale ~ ')') }}
{%- endmacro %}
