{#-
    Post-hook of incremental models: deletes from {{ this }} the rows whose key is no longer
    in `current_relation` (the set the model is built from), so a row hard-deleted in the
    source, or quarantined since it was loaded, leaves the model too. The merge alone only adds
    and updates rows. `current_key_columns` names the key in `current_relation` where it is
    spelled otherwise (raw `id` for staging's `message_id`). Runs only on incremental runs; a
    full build has nothing to delete.
-#}
{% macro delete_rows_missing_from(current_relation, key_columns, current_key_columns=none) -%}
    {%- set current_keys = current_key_columns or key_columns -%}
    {%- if is_incremental() -%}
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
{%- endmacro %}
