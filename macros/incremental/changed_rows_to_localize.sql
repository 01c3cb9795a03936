{#-
    changed_rows_to_localize(rows, incremental): the CTEs an incremental localized intermediate
    reads its delta with, ending in `changed_<rows>`: the rows of CTE `rows` (staging) of the
    newest dlt load {{ this }} holds per instance and after, and every row of an organization
    whose version (updated_at, time zone) is not the one its rows were localized with. Expects
    CTE `organizations` (staging). Not incremental: `changed_<rows>` is all of `rows`.
-#}
{% macro changed_rows_to_localize(rows, incremental) -%}
{%- if incremental %}
localized_loads as (

    select
        instance_id,
        max(dlt_load_id) as newest_load_id

    from {{ this }}

    group by instance_id

),

localized_organizations as (

    select distinct
        instance_id,
        organization_id,
        organization_updated_at,
        time_zone

    from {{ this }}

),

relocalized_organizations as (

    -- Valid organizations whose version is not the one their rows were localized with.
    select
        organizations.instance_id,
        organizations.organization_id

    from organizations
    left join localized_organizations
        on
            organizations.instance_id = localized_organizations.instance_id
            and organizations.organization_id = localized_organizations.organization_id
            and organizations.updated_at = localized_organizations.organization_updated_at
            and organizations.time_zone = localized_organizations.time_zone

    where localized_organizations.organization_id is null

),

{% endif %}
changed_{{ rows }} as (

    -- Filtered before the join with organizations: a cycle reads its delta, not the table.
    select {{ rows }}.*

    from {{ rows }}
    {%- if incremental %}
        left join localized_loads
            on {{ rows }}.instance_id = localized_loads.instance_id

        -- The newest localized load is read again: merging a row twice is harmless.
        where
            localized_loads.newest_load_id is null
            or {{ rows }}.dlt_load_id >= localized_loads.newest_load_id
            or exists (
                select 1
                from relocalized_organizations
                where
                    relocalized_organizations.instance_id = {{ rows }}.instance_id
                    and relocalized_organizations.organization_id = {{ rows }}.organization_id
            )
    {% endif %}

),
{%- endmacro %}
