-- Staging already holds the contract's names and meaning: the mapping is a projection.
with

organizations as (

    select * from {{ ref('stg_platform__organizations') }}

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        organization_name,
        kind,
        plan,
        time_zone,
        created_at,
        updated_at,
        deleted_at,
        is_deleted,
        extracted_at,
        dlt_load_id,
        cast(null as {{ dbt.type_string() }}) as quarantine_reason

    from organizations

)

select * from final
