-- Glific's messages in the contract's terms.
--   direction: `flow` (inbound/outbound); NULL (Glific allows it) -> quarantine
--         missing_direction, another value -> unknown_direction.
--   status: an inbound message is `received`; an outbound one has its provider status
--         `bsp_status`: enqueued -> queued, sent, delivered, read, error and contact_opt_out
--         (not sent: the contact opted out) -> failed; NULL stays null (unknown), anything
--         else -> quarantine unknown_status.
--   tenant_mismatch: the message's organization is not its contact's (nothing in Glific's
--         schema prevents it, and neither tenant may see the message). A message whose contact
--         is not in the warehouse is not judged (the source deletes messages with their
--         contact, so that is a contact not loaded yet).
-- Precedence: missing_tenant, missing_direction, unknown_direction, tenant_mismatch,
-- unknown_status.
with

messages as (

    select * from {{ ref('stg_glific__messages') }}

),

contacts as (

    select * from {{ ref('stg_glific__contacts') }}

),

mapped as (

    select
        messages.instance_id,
        messages.organization_id,
        messages.message_id,
        messages.contact_id,
        messages.flow,
        messages.bsp_status,
        contacts.organization_id as contact_organization_id,
        messages.inserted_at,
        messages.updated_at,
        messages.extracted_at,
        messages.dlt_load_id,
        case
            when messages.flow = 'inbound' then 'received'
            when messages.bsp_status = 'enqueued' then 'queued'
            when messages.bsp_status in ('sent', 'delivered', 'read', 'received')
                then messages.bsp_status
            when messages.bsp_status in ('error', 'contact_opt_out') then 'failed'
        end as status

    from messages
    left join contacts
        on
            messages.instance_id = contacts.instance_id
            and messages.contact_id = contacts.contact_id

),

final as (

    select
        instance_id,
        organization_id,
        {{ tenant_id() }} as tenant_id,
        message_id,
        contact_id,
        flow as direction,
        status,
        inserted_at as created_at,
        updated_at,
        extracted_at,
        dlt_load_id,
        case
            when organization_id is null then 'missing_tenant'
            when flow is null then 'missing_direction'
            when flow not in ('inbound', 'outbound') then 'unknown_direction'
            when contact_organization_id != organization_id then 'tenant_mismatch'
            when bsp_status is not null and status is null then 'unknown_status'
        end as quarantine_reason

    from mapped

)

select * from final
