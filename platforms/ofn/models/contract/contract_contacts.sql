-- OFN customers are the contacts: a customer belongs to one enterprise (`enterprise_id`, the
-- tenant). Customers have no phone and no language; name and email are hashed at ingestion.
with

customers as (

    select * from {{ ref('stg_ofn__customers') }}

),

final as (

    select
        instance_id,
        enterprise_id as organization_id,
        {{ tenant_id('instance_id', 'enterprise_id') }} as tenant_id,
        customer_id as contact_id,
        name_hash,
        email_hash,
        cast(null as {{ dbt.type_string() }}) as phone_hash,
        cast(null as {{ dbt.type_string() }}) as language,
        created_at,
        updated_at,
        extracted_at,
        dlt_load_id,
        case
            when enterprise_id is null then 'missing_tenant'
        end as quarantine_reason

    from customers

)

select * from final
