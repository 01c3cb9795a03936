{#-
    platform_has(entity): whether the active platform profile provides a canonical entity
    (`contract_<entity>`). The profile says which in its macro `platform_entities()` (a list of
    entity names), read at parse time: a model, snapshot or test that needs an entity the
    platform does not have is disabled with `config(enabled=platform_has(...))`, and the models
    that can do without it leave it out. Entities: instances, organizations (both required),
    users, contacts, orders, order_lines, messages, plan_prices, plan_history (docs/adopting.md).
-#}
{% macro platform_has(entity) -%}
    {{ return(entity in platform_entities()) }}
{%- endmacro %}

{#- platform_has_any(entities): whether the profile provides at least one of them. -#}
{% macro platform_has_any(entities) -%}
    {%- for entity in entities -%}
        {%- if platform_has(entity) -%}{{ return(true) }}{%- endif -%}
    {%- endfor -%}
    {{ return(false) }}
{%- endmacro %}

{#-
    platform_source_table(entity): the raw table an entity is mainly read from, as the
    ingestion run log names it (pipeline_status_by_tenant joins on it). A profile whose raw
    names differ from the entity names says so in an optional macro
    `platform_source_tables()` returning {entity: raw table}; by default they are the same.
-#}
{% macro platform_source_table(entity) -%}
    {%- set mapping = context.get('platform_source_tables') -%}
    {%- set tables = mapping() if mapping is not none else {} -%}
    {{ return(tables.get(entity, entity)) }}
{%- endmacro %}
