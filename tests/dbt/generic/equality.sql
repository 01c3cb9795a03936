{#-
    Fails on every row that is in one relation and not in the other, comparing `compare_columns`
    (rows are compared as sets). Used to prove the cross-adapter macros: a model applies a
    macro to known inputs, and its rows must equal the expected ones.
-#}
{% test equality(model, compare_model, compare_columns) %}

{%- set columns = compare_columns | join(', ') %}

with

actual_rows as (
    select {{ columns }} from {{ model }}
),

expected_rows as (
    select {{ columns }} from {{ compare_model }}
),

missing_rows as (
    select * from expected_rows
    {{ dbt.except() }}
    select * from actual_rows
),

unexpected_rows as (
    select * from actual_rows
    {{ dbt.except() }}
    select * from expected_rows
),

final as (
    select 'missing' as difference, missing_rows.* from missing_rows
    union all
    select 'unexpected' as difference, unexpected_rows.* from unexpected_rows
)

select * from final

{% endtest %}
