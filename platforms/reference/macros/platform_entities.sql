{#- The canonical entities the reference platform provides (macros/platform/platform_has.sql).
    No plan_history: the product derives it from its snapshot of the organizations' plan. -#}
{% macro platform_entities() -%}
    {{ return([
        'instances', 'organizations', 'users', 'contacts', 'orders', 'order_lines', 'messages',
        'plan_prices',
    ]) }}
{%- endmacro %}

{#- Raw tables whose name differs from the entity they feed. -#}
{% macro platform_source_tables() -%}
    {{ return({'order_lines': 'order_items'}) }}
{%- endmacro %}
