-- Glific's organizations as the contract's tenants.
--   kind: Glific has one kind of tenant (an NGO running a chatbot; no column tells kinds apart,
--         `status` is a lifecycle state): the constant 'ngo'.
--   plan: Glific bills nothing the warehouse sees: null (no billing marts for this profile).
--   time_zone: `timezone`, NULL meaning Glific's default Asia/Kolkata (its Organization schema);
--         a value that is not a zone name is passed on as it is: the product counts the
--         organization in its instance's zone (is_time_zone_fallback) and lists it.
--   deleted: soft delete (`deleted_at`); the row stays after Glific wipes the data.
--   quarantine_reason: none applies (id and name are NOT NULL in Glific).
with

organizations as (

    select * from {{ ref('stg_glific__organizations') }}

),

final as (

    select
        instance_id,
        organization_id,
        {{ tenant_id() }} as tenant_id,
        organization_name,
        cast('ngo' as {{ dbt.type_string() }}) as kind,
        cast(null as {{ dbt.type_string() }}) as plan,
        coalesce(timezone, 'Asia/Kolkata') as time_zone,
        inserted_at as created_at,
        updated_at,
        deleted_at,
        deleted_at is not null as is_deleted,
        extracted_at,
        dlt_load_id,
        cast(null as {{ dbt.type_string() }}) as quarantine_reason

    from organizations

)

select * from final
