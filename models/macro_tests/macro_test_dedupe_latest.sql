-- dedupe_latest on known versions: the survivor of each key is the latest updated_at, then
-- the latest load; a null updated_at never wins.
with

versions as (

    {% set versions = [
        ('a', 'a-old', '2026-06-01 10:00:00+00', '100.1'),
        ('a', 'a-new', '2026-06-02 10:00:00+00', '100.1'),
        ('b', 'b-first-load', '2026-06-01 10:00:00+00', '100.1'),
        ('b', 'b-second-load', '2026-06-01 10:00:00+00', '200.2'),
        ('c', 'c-dated', '2026-06-01 10:00:00+00', '100.1'),
        ('c', 'c-undated', none, '300.3'),
        ('d', 'd-only', '2026-06-03 10:00:00+00', '100.1'),
    ] %}
    {%- for key, version, updated_at, load_id in versions %}
        select
            '{{ key }}' as row_key,
            '{{ version }}' as version_label,
            {% if updated_at -%}
                cast('{{ updated_at }}' as {{ type_timestamp_utc() }})
            {%- else -%}
                cast(null as {{ type_timestamp_utc() }})
            {%- endif %} as updated_at,
            '{{ load_id }}' as dlt_load_id
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

deduped as (

    {{ dedupe_latest('versions', 'row_key', 'updated_at desc nulls last, dlt_load_id desc') }}

),

final as (

    select
        row_key,
        version_label

    from deduped

)

select * from final
