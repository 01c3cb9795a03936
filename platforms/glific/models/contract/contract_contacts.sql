-- Glific's contacts. Hard-deleted on erasure (absent here, like their cascaded messages).
-- Glific contacts have no email (email_hash null); `language_id` points to Glific's global
-- languages table, which is not ingested: language null.
with

contacts as (

    select * from {{ ref('stg_glific__contacts') }}

),

final as (

    select
        instance_id,
        organization_id,
        {{ tenant_id() }} as tenant_id,
        contact_id,
        name_hash,
        cast(null as {{ dbt.type_string() }}) as email_hash,
        phone_hash,
        cast(null as {{ dbt.type_string() }}) as language,
        inserted_at as created_at,
        updated_at,
        extracted_at,
        dlt_load_id,
        case
            when organization_id is null then 'missing_tenant'
        end as quarantine_reason

    from contacts

)

select * from final
