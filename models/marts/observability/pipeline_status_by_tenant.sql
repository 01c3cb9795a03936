{#-
    The pipeline's state seen from each tenant: for every organization and entity of the
    contract the platform provides, the tenant's rows in the warehouse, when they last changed
    and were last loaded, and the state of the instance's ingestion of the raw table the entity
    is read from (ingestion runs per instance, so every tenant of an instance shares it).
    Quarantined rows count: they are in the warehouse. table_name is the entity; source_table
    the raw table.
-#}
{%- set platform_tables = ['organizations'] -%}
{%- for entity in ['users', 'contacts', 'orders', 'order_lines', 'messages'] if platform_has(entity) -%}
    {%- do platform_tables.append(entity) -%}
{%- endfor -%}

with

{% for table_name in platform_tables %}
    {{ table_name }} as (

        select * from {{ ref('contract_' ~ table_name) }}

    ),

{% endfor %}
pipeline_status as (

    select * from {{ ref('pipeline_status') }}

),

{% for table_name in platform_tables %}
    {{ table_name }}_by_tenant as (

        select
            instance_id,
            organization_id,
            '{{ table_name }}' as table_name,
            count(*) as tenant_rows,
            max(updated_at) as last_changed_at,
            max(extracted_at) as last_loaded_at

        from {{ table_name }}

        where organization_id is not null

        group by instance_id, organization_id

    ),

{% endfor %}
rows_by_tenant as (

    select * from {{ platform_tables[0] }}_by_tenant
    {% for table_name in platform_tables[1:] %}
        union all
        select * from {{ table_name }}_by_tenant
    {% endfor %}

),

table_names as (

    {% for table_name in platform_tables %}
        select
            '{{ table_name }}' as table_name,
            '{{ platform_source_table(table_name) }}' as source_table
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

tenant_tables as (

    select
        organizations.instance_id,
        organizations.organization_id,
        organizations.tenant_id,
        table_names.table_name,
        table_names.source_table

    from organizations
    cross join table_names

),

final as (

    select
        tenant_tables.instance_id,
        tenant_tables.organization_id,
        tenant_tables.tenant_id,
        cast(tenant_tables.table_name as {{ dbt.type_string() }}) as table_name,
        cast(coalesce(rows_by_tenant.tenant_rows, 0) as {{ dbt.type_bigint() }}) as tenant_rows,
        rows_by_tenant.last_changed_at,
        rows_by_tenant.last_loaded_at,
        pipeline_status.last_status,
        pipeline_status.last_success_at,
        pipeline_status.failing_since,
        pipeline_status.lag_seconds,
        coalesce(pipeline_status.is_failing, false) as is_failing

    from tenant_tables
    left join rows_by_tenant
        on
            tenant_tables.instance_id = rows_by_tenant.instance_id
            and tenant_tables.organization_id = rows_by_tenant.organization_id
            and tenant_tables.table_name = rows_by_tenant.table_name
    left join pipeline_status
        on
            tenant_tables.instance_id = pipeline_status.instance_id
            and tenant_tables.source_table = pipeline_status.table_name

)

select * from final
