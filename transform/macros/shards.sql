{#- Several shards, one package: each tap-mindzpay shard loads its own schema (docs/scaling.md);
    var `mindzpay_schemas` lists them and every staging model reads their union. -#}

{% macro union_shards(relation) %}
{#- The rows of source table `relation` in every shard, each with `source_relation`: the schema it
    came from. Staging models never call this directly: latest_per_key(source(...), keys) does,
    so a staging model reads every shard by being written the usual way.

    Without var `mindzpay_schemas` (or with an empty list) the one source schema is read
    (var `mindzpay_schema`). With it, the same table of each listed schema (in var
    `mindzpay_database`, the source's database by default) is read; a shard that has not loaded
    the table yet is left out. Columns are the union of every shard's, null where a shard lacks
    one (a shard on an older tap version). -#}
{%- set schemas = var('mindzpay_schemas', []) -%}
{%- if schemas is string -%}{%- set schemas = [schemas] -%}{%- endif -%}
{%- if schemas | length == 0 or not execute -%}
    select {{ dbt.string_literal(relation.schema) }} as source_relation, shard.*
    from {{ relation }} as shard
{%- else -%}
    {%- set shards = [] -%}
    {%- set names = [] -%}
    {%- set types = {} -%}
    {%- for schema in schemas -%}
        {%- set found = adapter.get_relation(
            database=relation.database, schema=schema, identifier=relation.identifier) -%}
        {%- if found is not none -%}
            {%- set columns = adapter.get_columns_in_relation(found) -%}
            {%- do shards.append((schema, found, columns | map(attribute='name') | list)) -%}
            {%- for column in columns if column.name not in names -%}
                {%- do names.append(column.name) -%}
                {%- do types.update({column.name: column.data_type}) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if shards | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "none of the schemas in var mindzpay_schemas " ~ schemas | join(', ')
            ~ " has table " ~ relation.identifier ~ ": load at least one shard first") }}
    {%- endif -%}
    {%- for schema, found, present in shards %}
    select
        {{ dbt.string_literal(schema) }} as source_relation,
        {%- for name in names %}
        {% if name in present -%}
            {{ adapter.quote(name) }}
        {%- else -%}
            cast(null as {{ types[name] }}) as {{ adapter.quote(name) }}
        {%- endif %}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ found }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor -%}
{%- endif -%}
{% endmacro %}
