{#-
    The primary key test a cycle can afford on a big incremental table: fails on every
    combination of `combination_of_columns` written by the model's last write (the rows holding
    the newest `written_column`: `refreshed_at`, set to the invocation's start on every row it
    writes, or `dlt_load_id` in staging, the newest load staged) that occurs on more than one
    row of the whole table. It reads the table's key columns once and aggregates only the keys
    just written, where unique_combination_of_columns aggregates every key; that whole-table
    test runs in the periodic tier (tag `periodic`, cycle_build.py) and in every whole build.
-#}
{% test unique_keys_written_last(model, combination_of_columns, written_column) %}

with

written as (

    select distinct
        {{ combination_of_columns | join(', ') }}
    from {{ model }}
    where {{ written_column }} = (select max({{ written_column }}) from {{ model }})

)

select
    {% for column in combination_of_columns -%}
        written.{{ column }},
    {% endfor -%}
    count(*) as occurrences
from {{ model }} as whole_table
inner join written
    on
        {% for column in combination_of_columns -%}
            whole_table.{{ column }} = written.{{ column }}
            {%- if not loop.last %} and {% endif %}
        {% endfor %}
group by
    {% for column in combination_of_columns -%}
        written.{{ column }}{% if not loop.last %}, {% endif %}
    {%- endfor %}
having count(*) > 1

{% endtest %}
