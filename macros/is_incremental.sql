{#-
    Overrides dbt's is_incremental() so that `--vars '{force_incremental: true}'` (or false)
    decides it without looking at the warehouse. Used to compile the incremental branch
    offline (BigQuery with --no-introspect); unset, dbt's own check applies.
-#}
{% macro is_incremental() -%}
    {%- set forced = var('force_incremental', none) -%}
    {%- if forced is not none and forced | string | lower in ('true', 'false') -%}
        {{ return(forced | string | lower == 'true') }}
    {%- endif -%}
    {{ return(dbt.is_incremental()) }}
{%- endmacro %}

{#-
    is_incremental_from(column): is_incremental(), and {{ this }} already has `column`, which
    the model's incremental branch reads from itself. A table built by an older version of the
    model, before that column existed, is merged whole once (its new columns appended by
    on_schema_change) instead of failing on the missing column after a deploy.
-#}
{% macro is_incremental_from(column) -%}
    {#- No relation to read from: a unit test's rendering of the model. -#}
    {%- if this is none or not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {#- Offline compile, parse time, or a unit test (its `this` is a fixture with every column). -#}
    {%- if not execute or var('force_incremental', none) is not none
        or (model is mapping and model.get('resource_type') == 'unit_test') -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set names = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {{ return(column | lower in names) }}
{%- endmacro %}
