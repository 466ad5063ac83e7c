{#- Shared SQL for the MindzPay models; each macro works on DuckDB and PostgreSQL. -#}

{% macro latest_per_key(relation, key_columns) %}
{#- Every column of the latest version of each key: loaders that append (target-jsonl, target-postgres
    with load_method append-only) keep every version, so staging never relies on an upsert. The
    latest is the one extracted last; _sdc_batched_at breaks ties within one extraction. -#}
select *
from (
    select
        raw.*,
        row_number() over (
            partition by {{ key_columns | join(', ') }}
            order by raw._sdc_extracted_at desc nulls last, raw._sdc_batched_at desc nulls last
        ) as _version_rank
    from {{ relation }} as raw
) as versions
where _version_rank = 1
{% endmacro %}


{% macro money(column) -%}
    cast({{ column }} as decimal(18, 2))
{%- endmacro %}


{% macro brazil_time(column) -%}
{#- Both loaders store the API's -03:00 timestamps without a zone, in UTC (target-postgres: in the
    server's TimeZone, UTC by default). Brazil has kept UTC-3 all year since 2019, so local
    (America/Sao_Paulo) time is a fixed shift. -#}
    ({{ column }} - interval '3 hours')
{%- endmacro %}


{% macro seconds_between(start, finish) -%}
    {{ return(adapter.dispatch('seconds_between', 'mindzpay')(start, finish)) }}
{%- endmacro %}

{% macro default__seconds_between(start, finish) -%}
    cast(extract(epoch from ({{ finish }} - {{ start }})) as bigint)
{%- endmacro %}

{% macro duckdb__seconds_between(start, finish) -%}
    date_diff('second', {{ start }}, {{ finish }})
{%- endmacro %}


{% macro integer_division(numerator, denominator) -%}
    {{ return(adapter.dispatch('integer_division', 'mindzpay')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__integer_division(numerator, denominator) -%}
    div({{ numerator }}, {{ denominator }})
{%- endmacro %}

{% macro duckdb__integer_division(numerator, denominator) -%}
    (({{ numerator }}) // ({{ denominator }}))
{%- endmacro %}
