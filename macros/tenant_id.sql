{#-
    The tenant key, defined once: `<instance_id>:<organization_id>` (for example `uk:42`).
    Null when the organization is unknown (those rows are quarantined as missing_tenant).
    `||` concatenates text on every supported warehouse; only the text type's name differs.
-#}
{% macro tenant_id(instance_column='instance_id', organization_column='organization_id') -%}
    {{ instance_column }} || ':' || cast({{ organization_column }} as {{ dbt.type_string() }})
{%- endmacro %}
