{{ config(enabled=platform_has('messages')) }}

with

messages as (

    select * from {{ ref('int_messages_localized') }}

),

monthly as (

    select
        instance_id,
        organization_id,
        tenant_id,
        created_month_start as month_start,
        sum(case when direction = 'inbound' then 1 else 0 end) as inbound_messages,
        sum(case when direction = 'outbound' then 1 else 0 end) as outbound_messages,
        sum(
            case when direction = 'outbound' and status in ('delivered', 'read') then 1 else 0 end
        ) as delivered_messages,
        sum(case when direction = 'outbound' and status = 'read' then 1 else 0 end) as read_messages,
        sum(case when direction = 'outbound' and status = 'failed' then 1 else 0 end)
            as failed_messages

    from messages

    group by
        instance_id,
        organization_id,
        tenant_id,
        created_month_start

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        month_start,
        cast(inbound_messages as {{ dbt.type_bigint() }}) as inbound_messages,
        cast(outbound_messages as {{ dbt.type_bigint() }}) as outbound_messages,
        cast(delivered_messages as {{ dbt.type_bigint() }}) as delivered_messages,
        cast(read_messages as {{ dbt.type_bigint() }}) as read_messages,
        cast(failed_messages as {{ dbt.type_bigint() }}) as failed_messages,
        cast(
            {{ divide_round_half_away_from_zero('delivered_messages', 'outbound_messages', 4) }}
            as {{ type_decimal(9, 4) }}
        ) as delivery_rate,
        cast(
            {{ divide_round_half_away_from_zero('read_messages', 'outbound_messages', 4) }}
            as {{ type_decimal(9, 4) }}
        ) as read_rate,
        cast(
            {{ divide_round_half_away_from_zero('failed_messages', 'outbound_messages', 4) }}
            as {{ type_decimal(9, 4) }}
        ) as failure_rate

    from monthly

)

select * from final
