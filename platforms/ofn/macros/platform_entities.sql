{#- The canonical entities the Open Food Network profile provides (macros/platform/platform_has.sql).
    No messages (a food hub network has no chat) and no users (staff accounts are not mapped).
    plan_history is provided: OFN keeps no history of what an enterprise sells, so each
    enterprise has one open version (contract_plan_history). -#}
{% macro platform_entities() -%}
    {{ return([
        'instances', 'organizations', 'contacts', 'orders', 'order_lines', 'plan_prices',
        'plan_history',
    ]) }}
{%- endmacro %}

{#- Raw tables whose name differs from the entity they feed. -#}
{% macro platform_source_tables() -%}
    {{ return({
        'organizations': 'enterprises',
        'contacts': 'customers',
        'orders': 'spree_orders',
        'order_lines': 'spree_line_items',
    }) }}
{%- endmacro %}
