{#-
    The monitoring tables (`tw_managed` tables of source `monitoring`) are defined once, by their
    columns in models/staging/monitoring/_monitoring__sources.yml. These macros turn that
    definition into DDL and INSERT statements on every warehouse, so that:

    - on-run-start (`create_monitoring_tables`) makes sure they exist before any model reads
      them, on an empty warehouse too;
    - on-run-end (`persist_run_results`, macros/monitoring/persist_run_results.sql) appends the
      invocation's node results with plain SQL through dbt's own connection.

    Portable column types (`data_type` in the yml): text, bigint, double, boolean, timestamp.
-#}

{#- The source node of a monitoring table, from the parsed project (needs `execute`). -#}
{% macro monitoring_source_node(table_name) -%}
    {%- for node in graph.sources.values() -%}
        {%- if node.source_name == 'monitoring' and node.name == table_name -%}
            {{ return(node) }}
        {%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("no table " ~ table_name ~ " in source monitoring") }}
{%- endmacro %}


{% macro monitoring_relation(table_name) -%}
    {%- set node = monitoring_source_node(table_name) -%}
    {{ return(api.Relation.create(
        database=node.database, schema=node.schema, identifier=node.identifier
    )) }}
{%- endmacro %}


{#- [(column name, portable type)] of a monitoring table, in the yml's order. -#}
{% macro monitoring_columns(table_name) -%}
    {%- set node = monitoring_source_node(table_name) -%}
    {%- set columns = [] -%}
    {%- for column in node.columns.values() -%}
        {%- do columns.append((column.name, column.data_type)) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}


{#- The warehouse type of a portable type; dbt's type_* macros already differ per adapter. -#}
{% macro monitoring_column_type(portable_type) -%}
    {%- if portable_type == 'text' -%} {{ return(dbt.type_string()) }}
    {%- elif portable_type == 'bigint' -%} {{ return(dbt.type_bigint()) }}
    {%- elif portable_type == 'double' -%} {{ return(dbt.type_float()) }}
    {%- elif portable_type == 'boolean' -%} {{ return(dbt.type_boolean()) }}
    {%- elif portable_type == 'timestamp' -%} {{ return(type_timestamp_utc()) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("monitoring: unknown column type " ~ portable_type) }}
    {%- endif -%}
{%- endmacro %}


{#- on-run-start: create the raw schema and every tw_managed table that is missing. -#}
{% macro create_monitoring_tables() -%}
    {%- if execute and var('tw_monitoring_hooks', true) -%}
        {%- for node in graph.sources.values() -%}
            {%- if node.source_name == 'monitoring' and node.config.meta.get('tw_managed') -%}
                {%- set relation = monitoring_relation(node.name) -%}
                {%- do adapter.create_schema(relation.without_identifier()) -%}
                {%- set definitions = [] -%}
                {%- for name, portable_type in monitoring_columns(node.name) -%}
                    {%- do definitions.append(name ~ ' ' ~ monitoring_column_type(portable_type)) -%}
                {%- endfor -%}
                {%- do run_query(
                    'create table if not exists ' ~ relation ~ ' (' ~ definitions | join(', ') ~ ')'
                ) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {#- A hook must render some SQL; the work above is done with run_query. -#}
    select 1 as monitoring_tables_ready
{%- endmacro %}


{#-
    monitoring_insert_sql(table_name, rows): one INSERT of `rows` (dicts keyed by column name,
    Python values; missing keys are null) into a monitoring table.
-#}
{% macro monitoring_insert_sql(table_name, rows) -%}
    {%- set columns = monitoring_columns(table_name) -%}
    {%- set values = [] -%}
    {%- for row in rows -%}
        {%- set literals = [] -%}
        {%- for name, portable_type in columns -%}
            {%- do literals.append(monitoring_literal(row.get(name), portable_type)) -%}
        {%- endfor -%}
        {%- do values.append('(' ~ literals | join(', ') ~ ')') -%}
    {%- endfor -%}
    insert into {{ monitoring_relation(table_name) }} ({{ columns | map(attribute=0) | join(', ') }})
    values
    {{ values | join(',\n    ') }}
{%- endmacro %}


{#- A SQL literal of `value` typed as the portable type (null stays typed). -#}
{% macro monitoring_literal(value, portable_type) -%}
    {%- if value is none -%}
        {{ return('cast(null as ' ~ monitoring_column_type(portable_type) ~ ')') }}
    {%- elif portable_type == 'text' -%}
        {{ return(monitoring_string_literal(value | string)) }}
    {%- elif portable_type == 'bigint' -%}
        {{ return(value | int | string) }}
    {%- elif portable_type == 'double' -%}
        {{ return('cast(' ~ (value | float | string) ~ ' as ' ~ dbt.type_float() ~ ')') }}
    {%- elif portable_type == 'boolean' -%}
        {{ return('true' if value else 'false') }}
    {%- elif portable_type == 'timestamp' -%}
        {{ return('cast(' ~ monitoring_string_literal(monitoring_utc_text(value)) ~ ' as ' ~ type_timestamp_utc() ~ ')') }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error("monitoring: unknown column type " ~ portable_type) }}
{%- endmacro %}


{#- 'YYYY-MM-DD HH:MM:SS.ffffff+00:00' of a datetime (naive ones are UTC, as dbt's are). -#}
{% macro monitoring_utc_text(value) -%}
    {%- if value is string -%}
        {{ return(value) }}
    {%- endif -%}
    {%- set utc = value.astimezone(modules.pytz.utc) if value.tzinfo is not none else value -%}
    {{ return(utc.strftime('%Y-%m-%d %H:%M:%S.%f') ~ '+00:00') }}
{%- endmacro %}


{#- monitoring_string_literal(text): a quoted SQL string literal of any text. -#}
{% macro monitoring_string_literal(text) -%}
    {{ return(adapter.dispatch('monitoring_string_literal', 'tenant_warehouse')(text)) }}
{%- endmacro %}

{#-
    PostgreSQL (standard_conforming_strings, the default since 9.1) and DuckDB: a backslash is
    an ordinary character and a quote is doubled; newlines may stand in the literal.
-#}
{% macro default__monitoring_string_literal(text) -%}
    {{ return("'" ~ text | replace("'", "''") ~ "'") }}
{%- endmacro %}

{#-
    BigQuery: quotes and backslashes are escaped with a backslash, and a quoted string may not
    span lines, so newlines and carriage returns are written as escapes.
-#}
{% macro bigquery__monitoring_string_literal(text) -%}
    {%- set escaped = text
        | replace('\\', '\\\\')
        | replace("'", "\\'")
        | replace('\n', '\\n')
        | replace('\r', '\\r') -%}
    {{ return("'" ~ escaped ~ "'") }}
{%- endmacro %}
