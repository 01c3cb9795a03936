{#-
    Post-hook of the incremental facts: deletes from {{ this }} the rows whose key is no longer
    in `current_relation` (the set the model is built from), so a row hard-deleted in the
    source, or quarantined since it was loaded, leaves the fact too. The merge alone only adds
    and updates rows. Runs only on incremental runs; a full build has nothing to delete.
-#}
{% macro delete_rows_missing_from(current_relation, key_columns) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as loaded_rows
        where not exists (
            select 1
            from {{ current_relation }} as current_rows
            where
            {%- for column in key_columns %}
                {% if not loop.first %}and {% endif %}current_rows.{{ column }} = loaded_rows.{{ column }}
            {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}
