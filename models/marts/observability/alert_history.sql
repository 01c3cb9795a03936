{#-
    Every alert sent (`fired`) and every alert whose condition cleared (`resolved`), newest
    first when ordered by recorded_at. The baseline of known organizations is left out.
-#}
with

alerts as (

    select * from {{ ref('stg_monitoring__alerts') }}

),

final as (

    select
        recorded_at,
        alert_key,
        rule_name,
        event_type,
        severity,
        instance_id,
        table_name,
        tenant_id,
        title,
        body,
        since_at,
        is_delivered,
        delivery_error

    from alerts

    where event_type in ('fired', 'resolved')

)

select * from final
