{#-
    Fails on every combination of `combination_of_columns` found on more than one row: the
    primary key test of models keyed on several columns (the tenant key is always one of them).
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {% for column in combination_of_columns -%}
        {{ column }},
    {% endfor -%}
    count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
