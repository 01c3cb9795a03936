{#-
    Keeps one row per `partition_by` key: the first one in `order_by` order (for example
    `updated_at desc, dlt_load_id desc`). `relation_or_cte` is a relation or the name of a CTE.

    The default (used by PostgreSQL, which has no QUALIFY) ranks the rows in a subquery; its
    output carries one extra column, `row_number_in_partition`, so callers select the columns
    they keep, as the staging models do.
-#}
{% macro dedupe_latest(relation_or_cte, partition_by, order_by) -%}
    {{ return(adapter.dispatch('dedupe_latest', 'tenant_warehouse')(relation_or_cte, partition_by, order_by)) }}
{%- endmacro %}

{% macro default__dedupe_latest(relation_or_cte, partition_by, order_by) -%}
    select ranked.*
    from (
        select
            candidates.*,
            row_number() over (
                partition by {{ partition_by }}
                order by {{ order_by }}
            ) as row_number_in_partition
        from {{ relation_or_cte }} as candidates
    ) as ranked
    where ranked.row_number_in_partition = 1
{%- endmacro %}

{#- DuckDB and BigQuery filter on a window function directly with QUALIFY: no extra column. -#}
{% macro duckdb__dedupe_latest(relation_or_cte, partition_by, order_by) -%}
    select *
    from {{ relation_or_cte }}
    qualify row_number() over (
        partition by {{ partition_by }}
        order by {{ order_by }}
    ) = 1
{%- endmacro %}

{#- BigQuery requires a WHERE, GROUP BY or HAVING clause beside QUALIFY; `where true` is one. -#}
{% macro bigquery__dedupe_latest(relation_or_cte, partition_by, order_by) -%}
    select *
    from {{ relation_or_cte }}
    where true
    qualify row_number() over (
        partition by {{ partition_by }}
        order by {{ order_by }}
    ) = 1
{%- endmacro %}
