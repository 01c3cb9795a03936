{{ config(enabled=platform_has('contacts')) }}

with

contacts as (

    select * from {{ ref('contract_contacts') }}

),

organizations as (

    select * from {{ ref('contract_organizations') }}

),

final as (

    select
        contacts.instance_id,
        contacts.organization_id,
        contacts.tenant_id,
        contacts.contact_id,
        contacts.name_hash,
        contacts.email_hash,
        contacts.phone_hash,
        contacts.language,
        contacts.created_at,
        contacts.updated_at

    from contacts
    inner join organizations
        on
            contacts.instance_id = organizations.instance_id
            and contacts.organization_id = organizations.organization_id

    where contacts.quarantine_reason is null

)

select * from final
