-- OFN orders on the contract. What is particular to OFN:
--   * the tenant is the distributing enterprise (`distributor_id`). A cart whose customer has
--     not chosen a shop yet (checkout state, no distributor) belongs to nobody and is left
--     out; an order past checkout without one is quarantined (missing_tenant);
--   * states: the checkout steps cart, address, delivery and payment are open; canceled (one
--     l) is cancelled; awaiting_return is complete (a return asked for but not received has
--     refunded nothing: it still counts as turnover); complete and returned keep their name;
--     any other state (null, `cancelled` with two l...) is quarantined (unknown_state);
--   * money is numeric(10,2) in currency units: total * 100 is an exact whole number of
--     minor units, of the instance's currency: an order in another currency (`currency`) is
--     quarantined (foreign_currency, this profile's own reason), never summed with the others;
--   * OFN records no cancellation or return time: cancelled_at and returned_at are null
--     (completed_at stays set on canceled and returned orders).
-- Quarantine reasons, the first that applies: unknown_state, missing_tenant, negative_money,
-- foreign_currency, impossible_date (created or completed before 2000 or from 2101 on; past
-- checkout without completed_at, or completed before created).
{%- set checkout_states = "('cart', 'address', 'delivery', 'payment')" %}

with

orders as (

    select * from {{ ref('stg_ofn__orders') }}

),

instances as (

    select * from {{ ref('contract_instances') }}

),

with_tenant as (

    select *
    from orders
    where
        distributor_id is not null
        or state is null
        or state not in {{ checkout_states }}

),

mapped as (

    select
        with_tenant.instance_id,
        with_tenant.distributor_id as organization_id,
        with_tenant.order_id,
        with_tenant.customer_id as contact_id,
        with_tenant.created_at,
        with_tenant.completed_at,
        with_tenant.updated_at,
        with_tenant.extracted_at,
        with_tenant.dlt_load_id,
        case
            when with_tenant.state in {{ checkout_states }} then 'open'
            when with_tenant.state in ('complete', 'awaiting_return') then 'complete'
            when with_tenant.state = 'canceled' then 'cancelled'
            when with_tenant.state = 'returned' then 'returned'
        end as state,
        cast(round(with_tenant.total * 100) as {{ dbt.type_bigint() }}) as total_cents,
        coalesce(with_tenant.currency <> instances.currency, false) as is_foreign_currency

    from with_tenant
    left join instances
        on with_tenant.instance_id = instances.instance_id

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
        cast(null as {{ type_timestamp_utc() }}) as cancelled_at,
        cast(null as {{ type_timestamp_utc() }}) as returned_at,
        updated_at,
        extracted_at,
        dlt_load_id,
        case
            when state is null then 'unknown_state'
            when organization_id is null then 'missing_tenant'
            when total_cents < 0 then 'negative_money'
            when is_foreign_currency then 'foreign_currency'
            when created_at is null then 'impossible_date'
            when
                created_at < cast('2000-01-01 00:00:00+00' as {{ type_timestamp_utc() }})
                or created_at >= cast('2101-01-01 00:00:00+00' as {{ type_timestamp_utc() }})
                then 'impossible_date'
            when state = 'open' then null
            when completed_at is null then 'impossible_date'
            when completed_at < created_at then 'impossible_date'
            when
                completed_at < cast('2000-01-01 00:00:00+00' as {{ type_timestamp_utc() }})
                or completed_at >= cast('2101-01-01 00:00:00+00' as {{ type_timestamp_utc() }})
                then 'impossible_date'
        end as quarantine_reason

    from mapped

)

select * from final
