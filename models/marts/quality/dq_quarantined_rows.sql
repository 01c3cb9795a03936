{#-
    Every contract row kept out of the marts, with why: one reason per row, in the contract's
    precedence: missing_tenant; then unknown_organization (its organization is not in the
    warehouse, or is itself quarantined); then the row's own reason (negative_money,
    unknown_state, impossible_date, or a platform profile's own). table_name is the contract
    entity. Nothing is dropped silently: every contract row is in a mart or here
    (tests/dbt/assert_every_row_is_loaded_or_quarantined.sql).
    An organization with an invalid time zone is listed too (invalid_time_zone, the value in
    quarantined_value) but is_kept_in_marts: it stays in dim_organizations and its rows count
    on its instance's time zone (int_organizations_zoned).
-#}
{%- set tenant_tables = [] -%}
{%- for entity, key_column in [
    ('users', 'user_id'),
    ('contacts', 'contact_id'),
    ('orders', 'order_id'),
    ('order_lines', 'order_line_id'),
    ('messages', 'message_id'),
] if platform_has(entity) -%}
    {%- do tenant_tables.append((entity, key_column)) -%}
{%- endfor -%}

with

organizations as (

    select * from {{ ref('contract_organizations') }}

),

zoned_organizations as (

    select * from {{ ref('int_organizations_zoned') }}

),

{% for table_name, key_column in tenant_tables %}
    {{ table_name }} as (

        select * from {{ ref('contract_' ~ table_name) }}

    ),

{% endfor %}
quarantined_organizations as (

    select
        instance_id,
        organization_id,
        tenant_id,
        'organizations' as table_name,
        organization_id as row_id,
        quarantine_reason,
        cast(null as {{ dbt.type_string() }}) as quarantined_value,
        false as is_kept_in_marts

    from organizations

    where quarantine_reason is not null

    union all

    select
        instance_id,
        organization_id,
        tenant_id,
        'organizations' as table_name,
        organization_id as row_id,
        'invalid_time_zone' as quarantine_reason,
        source_time_zone as quarantined_value,
        true as is_kept_in_marts

    from zoned_organizations

    where is_time_zone_fallback

),

{% for table_name, key_column in tenant_tables %}
    quarantined_{{ table_name }} as (

        select
            {{ table_name }}.instance_id,
            {{ table_name }}.organization_id,
            {{ table_name }}.tenant_id,
            '{{ table_name }}' as table_name,
            {{ table_name }}.{{ key_column }} as row_id,
            case
                when {{ table_name }}.organization_id is null then {{ table_name }}.quarantine_reason
                when organizations.organization_id is null then 'unknown_organization'
                else {{ table_name }}.quarantine_reason
            end as quarantine_reason,
            cast(null as {{ dbt.type_string() }}) as quarantined_value,
            false as is_kept_in_marts

        from {{ table_name }}
        left join zoned_organizations as organizations
            on
                {{ table_name }}.instance_id = organizations.instance_id
                and {{ table_name }}.organization_id = organizations.organization_id

        where
            {{ table_name }}.quarantine_reason is not null
            or organizations.organization_id is null

    ),

{% endfor %}
unioned as (

    select * from quarantined_organizations
    {% for table_name, key_column in tenant_tables %}
        union all
        select * from quarantined_{{ table_name }}
    {% endfor %}

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        cast(table_name as {{ dbt.type_string() }}) as table_name,
        row_id,
        cast(quarantine_reason as {{ dbt.type_string() }}) as quarantine_reason,
        cast(quarantined_value as {{ dbt.type_string() }}) as quarantined_value,
        is_kept_in_marts

    from unioned

)

select * from final
