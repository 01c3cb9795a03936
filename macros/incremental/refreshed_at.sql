{#-
    refreshed_at(): the start of this dbt invocation as an instant, for the `refreshed_at`
    column of incremental models. A model downstream selects the rows refreshed at or after the
    newest `refreshed_at` it holds itself, so it reads only what changed upstream since it last
    merged, whichever invocation that was (one that failed half-way included).
-#}
{% macro refreshed_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}+00:00' as {{ type_timestamp_utc() }})
{%- endmacro %}
