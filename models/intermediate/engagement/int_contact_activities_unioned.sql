-- What makes a contact active: an inbound message (at created_at) or an order completion (at
-- completed_at, whatever the order's state is now). One row per activity, with its date on
-- the three calendars active users are counted on: the organization's, the instance's, UTC.
-- A platform without orders or without messages has only the other kind of activity.
{#- A table, not a view: the three active-user marts and its tests all read it in one
    build; its time-zone conversions run once. -#}
{{ config(materialized='table', enabled=platform_has_any(['orders', 'messages'])) }}

with

{% if platform_has('orders') -%}
    orders as (

        select * from {{ ref('int_orders_localized') }}

    ),
{%- endif %}

{% if platform_has('messages') -%}
    messages as (

        select * from {{ ref('int_messages_localized') }}

    ),
{%- endif %}

instances as (

    select * from {{ ref('contract_instances') }}

),

{% if platform_has('orders') -%}
    order_completions as (

        select
            instance_id,
            organization_id,
            tenant_id,
            contact_id,
            'order_completion' as activity_type,
            order_id as activity_source_id,
            completed_at as occurred_at,
            completed_local_date as organization_activity_date

        from orders

        where
            completed_at is not null
            and contact_id is not null

    ),
{%- endif %}

{% if platform_has('messages') -%}
    inbound_messages as (

        select
            instance_id,
            organization_id,
            tenant_id,
            contact_id,
            'inbound_message' as activity_type,
            message_id as activity_source_id,
            created_at as occurred_at,
            created_local_date as organization_activity_date

        from messages

        where
            direction = 'inbound'
            and contact_id is not null

    ),
{%- endif %}

unioned as (

    {% if platform_has('orders') -%}
        select * from order_completions
    {%- endif %}
    {% if platform_has('orders') and platform_has('messages') -%}
        union all
    {%- endif %}
    {% if platform_has('messages') -%}
        select * from inbound_messages
    {%- endif %}

),

final as (

    select
        unioned.instance_id,
        unioned.organization_id,
        unioned.tenant_id,
        unioned.contact_id,
        unioned.activity_type,
        unioned.activity_source_id,
        unioned.occurred_at,
        unioned.organization_activity_date,
        cast({{ to_local_time('unioned.occurred_at', 'instances.time_zone') }} as date)
            as instance_activity_date,
        cast({{ to_local_time('unioned.occurred_at', "'UTC'") }} as date) as utc_activity_date

    from unioned
    inner join instances
        on unioned.instance_id = instances.instance_id

)

select * from final
