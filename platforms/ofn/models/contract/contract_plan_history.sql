-- OFN keeps no history of what an enterprise sells: each enterprise has one version, its
-- current plan (contract_organizations), valid from its creation and still open. A shop that
-- starts selling nothing therefore leaves billing for every month, past ones included (the
-- billing snapshot is what freezes reported months).
with

organizations as (

    select * from {{ ref('contract_organizations') }}

),

final as (

    select
        instance_id,
        organization_id,
        tenant_id,
        plan,
        created_at as valid_from_at,
        cast(null as {{ type_timestamp_utc() }}) as valid_to_at

    from organizations

)

select * from final
