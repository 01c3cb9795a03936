{#- Incremental: a cycle stages only the loads it has not seen (raw_rows_since_staged), so
    the tests and models downstream read a table instead of deduplicating raw again. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy=upsert_strategy(),
        unique_key=['instance_id', 'order_id'],
        on_schema_change='append_new_columns',
        cluster_by=['instance_id', 'organization_id'],
        post_hook="{{ delete_rows_missing_from(source('platform', 'orders'), ['instance_id', 'order_id'], ['instance_id', 'id']) }}",
    )
}}

{#- The event times an order can carry; updated_at is bookkeeping and not checked. -#}
{%- set event_timestamp_columns = ['created_at', 'completed_at', 'cancelled_at', 'returned_at'] -%}

with

source as (

    {{ raw_rows_since_staged(source('platform', 'orders')) }}

),

renamed as (

    select
        cast(instance_id as {{ dbt.type_string() }}) as instance_id,
        cast(organization_id as {{ dbt.type_bigint() }}) as organization_id,
        cast(id as {{ dbt.type_bigint() }}) as order_id,
        cast(contact_id as {{ dbt.type_bigint() }}) as contact_id,
        cast(state as {{ dbt.type_string() }}) as state,
        cast(total_cents as {{ dbt.type_bigint() }}) as total_cents,
        cast(created_at as {{ type_timestamp_utc() }}) as created_at,
        cast(completed_at as {{ type_timestamp_utc() }}) as completed_at,
        cast(cancelled_at as {{ type_timestamp_utc() }}) as cancelled_at,
        cast(returned_at as {{ type_timestamp_utc() }}) as returned_at,
        cast(updated_at as {{ type_timestamp_utc() }}) as updated_at,
        cast(_tw_extracted_at as {{ type_timestamp_utc() }}) as extracted_at,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as dlt_load_id,
        cast(_dlt_id as {{ dbt.type_string() }}) as dlt_id

    from source

),

deduped as (

    {{ dedupe_latest(
        'renamed',
        'instance_id, order_id',
        'updated_at desc nulls last, dlt_load_id desc, dlt_id desc'
    ) }}

),

final as (

    select
        instance_id,
        organization_id,
        {{ tenant_id() }} as tenant_id,
        order_id,
        contact_id,
        state,
        total_cents,
        created_at,
        completed_at,
        cancelled_at,
        returned_at,
        updated_at,
        extracted_at,
        dlt_load_id,
        -- One reason per row, the first that applies, in the contract's order.
        case
            when organization_id is null then 'missing_tenant'
            when total_cents < 0 then 'negative_money'
            when
                state is null
                or state not in ('cart', 'complete', 'cancelled', 'returned')
                then 'unknown_state'
            when completed_at < created_at then 'impossible_date'
            -- A time the source holds but ingestion could not read lands as null (and is
            -- reported in the run record): an order cannot lack its creation time, nor a
            -- completed one its completion time.
            when created_at is null then 'impossible_date'
            when
                completed_at is null
                and state in ('complete', 'cancelled', 'returned')
                then 'impossible_date'
            {%- for column in event_timestamp_columns %}
                when
                    {{ column }} < cast('2000-01-01 00:00:00+00' as {{ type_timestamp_utc() }})
                    or {{ column }} >= cast('2101-01-01 00:00:00+00' as {{ type_timestamp_utc() }})
                    then 'impossible_date'
            {%- endfor %}
        end as quarantine_reason

    from deduped

)

select * from final
