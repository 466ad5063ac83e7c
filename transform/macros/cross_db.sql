{#- Warehouse-specific SQL, one dispatched macro per need: `default__` is standard SQL (or what
    PostgreSQL and most warehouses accept), and an adapter gets its own version only where it
    differs. A project can override any of them through its dispatch config:
        dispatch: [{macro_namespace: mindzpay, search_order: [my_project, mindzpay]}] -#}

{% macro convert_time_zone(column, from_zone, to_zone) -%}
    {{ return(adapter.dispatch('convert_time_zone', 'mindzpay')(column, from_zone, to_zone)) }}
{%- endmacro %}

{% macro default__convert_time_zone(column, from_zone, to_zone) -%}
    (({{ column }} at time zone '{{ from_zone }}') at time zone '{{ to_zone }}')
{%- endmacro %}

{% macro duckdb__convert_time_zone(column, from_zone, to_zone) -%}
    {#- timezone(zone, timestamp) reads a naive timestamp in `zone` (a TIMESTAMPTZ results);
        timezone(zone, timestamptz) gives the wall-clock time in `zone`. -#}
    timezone('{{ to_zone }}', timezone('{{ from_zone }}', cast({{ column }} as timestamp)))
{%- endmacro %}

{% macro snowflake__convert_time_zone(column, from_zone, to_zone) -%}
    convert_timezone('{{ from_zone }}', '{{ to_zone }}', cast({{ column }} as timestamp_ntz))
{%- endmacro %}

{% macro bigquery__convert_time_zone(column, from_zone, to_zone) -%}
    datetime(timestamp(cast({{ column }} as datetime), '{{ from_zone }}'), '{{ to_zone }}')
{%- endmacro %}


{% macro seconds_between(start, finish) -%}
    {{ return(adapter.dispatch('seconds_between', 'mindzpay')(start, finish)) }}
{%- endmacro %}

{% macro default__seconds_between(start, finish) -%}
    {{ dbt.datediff(start, finish, 'second') }}
{%- endmacro %}

{% macro postgres__seconds_between(start, finish) -%}
    {#- dbt's postgres datediff counts second boundaries through date parts; the epoch of the
        difference is exact and shorter. -#}
    cast(extract(epoch from ({{ finish }} - {{ start }})) as bigint)
{%- endmacro %}

{% macro duckdb__seconds_between(start, finish) -%}
    date_diff('second', {{ start }}, {{ finish }})
{%- endmacro %}


{% macro integer_division(numerator, denominator) -%}
    {{ return(adapter.dispatch('integer_division', 'mindzpay')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__integer_division(numerator, denominator) -%}
    floor(({{ numerator }}) / ({{ denominator }}))
{%- endmacro %}

{% macro postgres__integer_division(numerator, denominator) -%}
    div({{ numerator }}, {{ denominator }})
{%- endmacro %}

{% macro duckdb__integer_division(numerator, denominator) -%}
    (({{ numerator }}) // ({{ denominator }}))
{%- endmacro %}

{% macro bigquery__integer_division(numerator, denominator) -%}
    div({{ numerator }}, {{ denominator }})
{%- endmacro %}


{% macro month_spine(first_month, last_month) -%}
{#- One row per month (column `month`, a date) from `first_month` to `last_month`, both dates of
    a month's first day; at most 100 years. -#}
    select cast({{ dbt.dateadd('month', 'steps.generated_number - 1', first_month) }} as date) as month
    from ({{ dbt.generate_series(1200) }}) as steps
    where {{ dbt.dateadd('month', 'steps.generated_number - 1', first_month) }} <= {{ last_month }}
{%- endmacro %}
