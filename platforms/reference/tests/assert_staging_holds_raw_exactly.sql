-- The incremental staging tables hold exactly raw: every raw key once, in its latest version
-- (the newest updated_at raw has for it), and no key raw no longer has. Returns the keys that
-- differ, with the version on each side (null where the row is missing).
{#- An audit: reads every row of two layers; cycles run it hourly (cycle_build.py). -#}
{{ config(tags=['audit']) }}

{%- set tables = [
    ('contacts', 'contact_id'),
    ('orders', 'order_id'),
    ('order_items', 'order_item_id'),
    ('messages', 'message_id'),
] %}

with

{% for table_name, key_column in tables %}
    {{ table_name }}_raw_keys as (

        select
            instance_id,
            cast(id as {{ dbt.type_bigint() }}) as row_id,
            max(cast(updated_at as {{ type_timestamp_utc() }})) as updated_at

        from {{ source('platform', table_name) }}

        group by
            instance_id,
            cast(id as {{ dbt.type_bigint() }})

    ),

    {{ table_name }}_compared as (

        select
            '{{ table_name }}' as table_name,
            coalesce(raw_keys.instance_id, staged.instance_id) as instance_id,
            coalesce(raw_keys.row_id, staged.{{ key_column }}) as row_id,
            raw_keys.updated_at as raw_updated_at,
            staged.updated_at as staged_updated_at

        from {{ table_name }}_raw_keys as raw_keys
        full outer join {{ ref('stg_platform__' ~ table_name) }} as staged
            on
                raw_keys.instance_id = staged.instance_id
                and raw_keys.row_id = staged.{{ key_column }}

        where
            raw_keys.row_id is null
            or staged.{{ key_column }} is null
            or raw_keys.updated_at <> staged.updated_at
            or (raw_keys.updated_at is null) <> (staged.updated_at is null)

    ),

{% endfor %}
final as (

    {% for table_name, key_column in tables -%}
        select * from {{ table_name }}_compared
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from final
