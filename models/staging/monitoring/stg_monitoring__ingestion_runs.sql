with

source as (

    select * from {{ source('monitoring', 'ingestion_runs') }}

),

renamed as (

    select
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(table_name as {{ dbt.type_string() }}) as table_name,
        cast(started_at as {{ type_timestamp_utc() }}) as started_at,
        cast(ended_at as {{ type_timestamp_utc() }}) as ended_at,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(rows_extracted as {{ dbt.type_bigint() }}) as rows_extracted,
        cast(rows_deleted as {{ dbt.type_bigint() }}) as rows_deleted,
        cast(cursor_from as {{ dbt.type_string() }}) as cursor_from,
        cast(cursor_to as {{ dbt.type_string() }}) as cursor_to,
        coalesce(cast(is_reconciliation as {{ dbt.type_boolean() }}), false) as is_reconciliation,
        cast(error_message as {{ dbt.type_string() }}) as error_message

    from source

),

final as (

    select
        run_id,
        instance_id,
        table_name,
        started_at,
        ended_at,
        status,
        rows_extracted,
        rows_deleted,
        cursor_from,
        cursor_to,
        is_reconciliation,
        error_message,
        status = 'success' as is_success,
        status = 'failed' as is_failed,
        {{ seconds_between('started_at', 'ended_at') }} as duration_seconds

    from renamed

)

select * from final
