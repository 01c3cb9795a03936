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
