{#-
    Schema names the dbt way: prod targets build into the plain schemas, every other target
    (an analytics engineer's dev target) into its own prefixed ones.

    - Prod targets (`tw_prod_targets`: the targets `warehouse` runs, duckdb, postgres and
      bigquery): a model configured with `+schema: marts` lands in schema `marts`. Every layer
      has one well-known schema (staging, intermediate, marts, observability, reference,
      snapshots), which is what the product reads: BI tools, the tenants' views and row access
      policies, exports, the dashboard, monitoring and the oracle tests.
    - Any other target (profiles.yml.example: duckdb_dev, postgres_dev, bigquery_dev, or one of
      your own): `<target.schema>_<custom>`, e.g. `dbt_alice_marts` (dbt's default), so
      `dbt build --target duckdb_dev` never writes a prod schema.
    Nodes without a custom schema use the target's schema. Sources (raw) are not affected: a dev
    target reads the raw layer ingestion wrote.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif tw_is_prod_target() -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

{#- Whether the current target writes the plain (prod) schemas: its name is in var
    `tw_prod_targets` (default: the targets `warehouse` uses). -#}
{% macro tw_is_prod_target() -%}
    {{ return(target.name in var('tw_prod_targets', ['duckdb', 'postgres', 'bigquery'])) }}
{%- endmacro %}
