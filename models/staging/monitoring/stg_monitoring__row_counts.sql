with

source as (

    select * from {{ source('monitoring', 'row_counts') }}

),

renamed as (

    select
        cast(capture_id as {{ dbt.type_string() }}) as capture_id,
        cast(captured_at as {{ type_timestamp_utc() }}) as captured_at,
        cast(ingestion_run_id as {{ dbt.type_string() }}) as ingestion_run_id,
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(table_name as {{ dbt.type_string() }}) as table_name,
        cast(row_count as {{ dbt.type_bigint() }}) as row_count,
        cast(max_updated_at as {{ type_timestamp_utc() }}) as max_updated_at,
        cast(max_extracted_at as {{ type_timestamp_utc() }}) as max_extracted_at

    from source

),

final as (

    select * from renamed

)

select * from final
