{#-
    Source freshness results: every check of `dbt source freshness` (recorded by the on-run-end
    hook), with the latest check of each source table flagged. `max_loaded_at` is the latest
    loaded_at_field value (`_tw_extracted_at` for the platform's tables), `age_seconds` how old
    it was at the check; status pass, warn, error (stale) or runtime error.
-#}
with

dbt_results as (

    select * from {{ ref('stg_monitoring__dbt_results') }}

    where resource_type = 'source'

),

checks_ranked as (

    select
        unique_id,
        invocation_id,
        node_name,
        status,
        completed_at,
        max_loaded_at,
        age_seconds,
        message,
        is_stale,
        row_number() over (
            partition by unique_id
            order by completed_at desc, invocation_id desc
        ) as check_recency

    from dbt_results

),

final as (

    select
        unique_id as source_unique_id,
        -- source.<project>.<source>.<table>
        cast({{ dbt.split_part('unique_id', "'.'", 3) }} as {{ dbt.type_string() }}) as source_name,
        node_name as table_name,
        invocation_id,
        completed_at as checked_at,
        status,
        max_loaded_at,
        cast(round(age_seconds) as {{ dbt.type_bigint() }}) as age_seconds,
        message,
        is_stale,
        check_recency = 1 as is_latest

    from checks_ranked

)

select * from final
