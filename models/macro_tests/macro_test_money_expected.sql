-- Expected rows of macro_test_money (ties away from zero).
{%- set rows = [
    ('cents_to_amount 12345', '123.45'),
    ('cents_to_amount -5', '-0.05'),
    ('round 1020 x 1.234567', '1259'),
    ('round 2.5 (float)', '3'),
    ('round -2.5 (float)', '-3'),
    ('round 0.125 to 2 decimals', '0.13'),
    ('250 bps of 1020 cents', '26'),
    ('-250 bps of 1020 cents', '-26'),
    ('150 bps of 12345 cents', '185'),
    ('1 / 3 to 4 decimals', '0.3333'),
    ('2 / 3 to 4 decimals', '0.6667'),
    ('1 / 20000 to 4 decimals', '0.0001'),
    ('1 / 0', none),
] %}

with

final as (

    {% for case_name, result_value in rows %}
        select
            '{{ case_name }}' as case_name,
            cast({{ "'" ~ result_value ~ "'" if result_value is not none else 'null' }} as {{ type_decimal(18, 4) }})
                as result_value
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

)

select * from final
