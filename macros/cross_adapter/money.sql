{#-
    Money is kept in integer minor units (`*_cents`, bigint). These helpers turn cents into an
    exact numeric(18, 2) amount and round exactly, half away from zero, as invoices do.
-#}

{#- cents_to_amount(cents): numeric(18, 2) = cents / 100, computed exactly. -#}
{% macro cents_to_amount(cents) -%}
    {{ return(adapter.dispatch('cents_to_amount', 'tenant_warehouse')(cents)) }}
{%- endmacro %}

{#- PostgreSQL and BigQuery: NUMERIC divided by an integer stays an exact NUMERIC. -#}
{% macro default__cents_to_amount(cents) -%}
    cast(cast({{ cents }} as numeric(18, 2)) / 100 as numeric(18, 2))
{%- endmacro %}

{#- DuckDB: dividing a DECIMAL gives a DOUBLE; multiplying by the DECIMAL 0.01 stays exact. -#}
{% macro duckdb__cents_to_amount(cents) -%}
    cast(cast({{ cents }} as decimal(18, 0)) * 0.01 as decimal(18, 2))
{%- endmacro %}


{#-
    round_half_away_from_zero(expression, scale=0): rounds an exact numeric expression to
    `scale` decimals, ties away from zero (2.5 -> 3, -2.5 -> -3).
-#}
{% macro round_half_away_from_zero(expression, scale=0) -%}
    {{ return(adapter.dispatch('round_half_away_from_zero', 'tenant_warehouse')(expression, scale)) }}
{%- endmacro %}

{#- DuckDB and BigQuery: ROUND already rounds ties away from zero, for decimals and floats. -#}
{% macro default__round_half_away_from_zero(expression, scale=0) -%}
    round({{ expression }}, {{ scale | int }})
{%- endmacro %}

{#-
    PostgreSQL: round(numeric) rounds ties away from zero, but round(double precision) rounds
    them to even; casting to numeric first gives the same answer whatever the input type.
-#}
{% macro postgres__round_half_away_from_zero(expression, scale=0) -%}
    round(cast({{ expression }} as numeric), {{ scale | int }})
{%- endmacro %}


{#-
    divide_round_half_away_from_zero(numerator, denominator, scale=0): numerator / denominator
    for integer (bigint) operands, rounded exactly to `scale` decimals, ties away from zero.
    Null when the denominator is 0 or null. Scale 0 gives an integer, otherwise a decimal.
-#}
{% macro divide_round_half_away_from_zero(numerator, denominator, scale=0) -%}
    {{ return(adapter.dispatch('divide_round_half_away_from_zero', 'tenant_warehouse')(numerator, denominator, scale)) }}
{%- endmacro %}

{#- PostgreSQL and BigQuery: NUMERIC division is exact past the decimals we keep; round it. -#}
{% macro default__divide_round_half_away_from_zero(numerator, denominator, scale=0) -%}
    {%- set rounded -%}
        {{ round_half_away_from_zero(
            'cast(' ~ numerator ~ ' as numeric) / nullif(' ~ denominator ~ ', 0)', scale
        ) }}
    {%- endset -%}
    {%- if scale | int == 0 -%}
        cast({{ rounded }} as {{ dbt.type_bigint() }})
    {%- else -%}
        {{ rounded }}
    {%- endif -%}
{%- endmacro %}

{#-
    DuckDB: DECIMAL division returns DOUBLE, whose ties are not exact. Round in integers
    instead: q = (2 * |n| * 10^scale + |d|) // (2 * |d|), signed, then scale it back with an
    exact DECIMAL multiplication.
-#}
{% macro duckdb__divide_round_half_away_from_zero(numerator, denominator, scale=0) -%}
    {%- set factor = 10 ** (scale | int) -%}
    {%- set divisor = 'nullif(' ~ denominator ~ ', 0)' -%}
    {%- set quotient -%}
        (
            sign({{ numerator }}) * sign({{ divisor }})
            * ((2 * abs(cast({{ numerator }} as hugeint)) * {{ factor }} + abs({{ divisor }}))
               // (2 * abs({{ divisor }})))
        )
    {%- endset -%}
    {%- if scale | int == 0 -%}
        cast({{ quotient }} as bigint)
    {%- else -%}
        {%- set unit = '0.' ~ ('0' * (scale | int - 1)) ~ '1' -%}
        cast(cast({{ quotient }} as decimal(38, 0)) * cast('{{ unit }}' as decimal({{ scale | int + 1 }}, {{ scale | int }})) as decimal(38, {{ scale | int }}))
    {%- endif -%}
{%- endmacro %}
