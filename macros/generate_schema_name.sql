{#-
    Custom schemas are used as-is: a model configured with `+schema: marts` lands in schema
    `marts`, not in `<target schema>_marts` (dbt's default). Every layer has one well-known
    schema (staging, intermediate, marts, reference, snapshots), which is what BI tools, the
    tenants' SQL endpoint and the oracle tests read. Nodes without a custom schema use the
    target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
