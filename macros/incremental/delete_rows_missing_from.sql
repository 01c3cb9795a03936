{#-
    Post-hook of incremental models: deletes from {{ this }} the rows whose key is no longer
    in `current_relation` (the set the model is built from: a relation, or a parenthesised
    query), so a row hard-deleted in the source, or quarantined since it was loaded, leaves the
    model too. The merge alone only adds and updates rows. `current_key_columns` names the key
    in `current_relation` where it is spelled otherwise (raw `id` for staging's `message_id`).
    Runs only on incremental runs; a full build has nothing to delete.

    Counting first: after the merge every current key is in {{ this }}, so when both hold as
    many rows nothing is extra and the anti-join (a scan and hash of both whole tables, ~1 s
    per 10M rows) is skipped; a cycle without deletions pays two counts. This needs
    `current_relation` unique on the key: raw is (dlt merges on instance_id and the key, and
    deduplicates), and so is every model passed here (their unique tests). Should that ever
    break, the hourly audit `assert_staging_holds_raw_exactly` and the mart row accounting
    find the row that was left.
-#}
{% macro delete_rows_missing_from(current_relation, key_columns, current_key_columns=none) -%}
    {%- set current_keys = current_key_columns or key_columns -%}
    {%- if is_incremental() -%}
        {%- set needed = true -%}
        {%- if execute -%}
            {%- set counted = run_query(
                'select (select count(*) from ' ~ this ~ ') as loaded_rows, '
                ~ '(select count(*) from ' ~ current_relation ~ ' as current_rows) as current_rows'
            ) -%}
            {%- set needed = counted.rows[0][0] != counted.rows[0][1] -%}
        {%- endif -%}
        {%- if needed -%}
        delete from {{ this }} as loaded_rows
        where not exists (
            select 1
            from {{ current_relation }} as current_rows
            where
            {%- for column in key_columns %}
                {% if not loop.first %}and {% endif %}current_rows.{{ current_keys[loop.index0] }} = loaded_rows.{{ column }}
            {%- endfor %}
        )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
