-- cents_to_amount, round_half_away_from_zero and divide_round_half_away_from_zero on ties,
-- negative numbers and a zero denominator. One row per case: the macro's result as text, so
-- integers, decimals and nulls compare the same way on every warehouse.
with

amounts as (

    select
        'cents_to_amount 12345' as case_name,
        {{ cents_to_amount('12345') }} as result_value
    union all
    select
        'cents_to_amount -5' as case_name,
        {{ cents_to_amount('-5') }} as result_value
    union all
    select
        'round 1020 x 1.234567' as case_name,
        cast(
            {{ round_half_away_from_zero('1020 * cast(1.234567 as ' ~ type_decimal(12, 6) ~ ')') }}
            as {{ type_decimal(18, 2) }}
        ) as result_value
    union all
    select
        'round 2.5 (float)' as case_name,
        cast(
            {{ round_half_away_from_zero('cast(2.5 as ' ~ dbt.type_float() ~ ')') }}
            as {{ type_decimal(18, 2) }}
        ) as result_value
    union all
    select
        'round -2.5 (float)' as case_name,
        cast(
            {{ round_half_away_from_zero('cast(-2.5 as ' ~ dbt.type_float() ~ ')') }}
            as {{ type_decimal(18, 2) }}
        ) as result_value
    union all
    select
        'round 0.125 to 2 decimals' as case_name,
        cast(
            {{ round_half_away_from_zero('cast(0.125 as ' ~ type_decimal(9, 3) ~ ')', 2) }}
            as {{ type_decimal(18, 2) }}
        ) as result_value

),

quotients as (

    {% set divisions = [
        ('250 bps of 1020 cents', '250 * 1020', '10000', 0),
        ('-250 bps of 1020 cents', '-250 * 1020', '10000', 0),
        ('150 bps of 12345 cents', '150 * 12345', '10000', 0),
        ('1 / 3 to 4 decimals', '1', '3', 4),
        ('2 / 3 to 4 decimals', '2', '3', 4),
        ('1 / 20000 to 4 decimals', '1', '20000', 4),
        ('1 / 0', '1', '0', 4),
    ] %}
    {%- for case_name, numerator, denominator, scale in divisions %}
        select
            '{{ case_name }}' as case_name,
            cast(
                {{ divide_round_half_away_from_zero(
                    'cast(' ~ numerator ~ ' as ' ~ dbt.type_bigint() ~ ')',
                    'cast(' ~ denominator ~ ' as ' ~ dbt.type_bigint() ~ ')',
                    scale
                ) }} as {{ type_decimal(18, 4) }}
            ) as result_value
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

final as (

    select
        case_name,
        cast(result_value as {{ type_decimal(18, 4) }}) as result_value

    from amounts

    union all

    select
        case_name,
        result_value

    from quotients

)

select * from final
