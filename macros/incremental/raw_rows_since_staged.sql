{#-
    The raw rows an incremental staging model has not staged yet: those of the newest dlt load
    it holds per instance and after. Each instance is its own database with its own loads; a
    load id sorts as its creation time (`<unix seconds>.<fraction>`), and loads of one table
    commit in that order (the ingestion lock serialises runs, dlt finishes a pending package
    before it loads a newer one). The newest staged load is read again: merging a row twice
    is harmless, missing one is not. A full build, or an instance never staged, reads it all.
-#}
{% macro raw_rows_since_staged(source_relation) -%}
    select raw_rows.*
    from {{ source_relation }} as raw_rows
    {%- if is_incremental() %}
        left join (
            select
                instance_id,
                max(dlt_load_id) as newest_load_id
            from {{ this }}
            group by instance_id
        ) as staged_loads
            on raw_rows.instance_id = staged_loads.instance_id
    where
        staged_loads.newest_load_id is null
        or raw_rows._dlt_load_id >= staged_loads.newest_load_id
    {%- endif %}
{%- endmacro %}
