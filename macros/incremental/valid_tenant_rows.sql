{#-
    valid_tenant_rows(staged_relation, key_column): a parenthesised query of the keys
    (instance_id, key_column) of the contract rows the localized intermediates keep: no
    quarantine reason, and an organization in the warehouse (one with an invalid time zone
    included: its rows count on the instance's time zone). Their post-hook deletes what is not
    in it (delete_rows_missing_from).
-#}
{% macro valid_tenant_rows(staged_relation, key_column) -%}
    (
        select
            staged_rows.instance_id,
            staged_rows.{{ key_column }}
        from {{ staged_relation }} as staged_rows
        inner join {{ ref('int_organizations_zoned') }} as organizations
            on
                staged_rows.instance_id = organizations.instance_id
                and staged_rows.organization_id = organizations.organization_id
        where staged_rows.quarantine_reason is null
    )
{%- endmacro %}
