-- Expected survivors of macro_test_dedupe_latest.
with

final as (

    select
        'a' as row_key,
        'a-new' as version_label
    union all
    select
        'b' as row_key,
        'b-second-load' as version_label
    union all
    select
        'c' as row_key,
        'c-dated' as version_label
    union all
    select
        'd' as row_key,
        'd-only' as version_label

)

select * from final
