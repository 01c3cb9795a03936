{#- The canonical entities the glific profile provides (macros/platform/platform_has.sql): a
    chatbot platform has contacts and messages, no orders and no billing. -#}
{% macro platform_entities() -%}
    {{ return(['instances', 'organizations', 'contacts', 'messages']) }}
{%- endmacro %}
