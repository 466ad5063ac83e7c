{#- Shared SQL for the MindzPay models. Warehouse differences go through adapter.dispatch
    (macros/cross_db.sql), with dbt's own cross-database macros (dbt.dateadd, dbt.date_trunc,
    dbt.generate_series, ...) used first wherever they cover the need. -#}

{% macro latest_per_key(relation, key_columns) %}
{#- Every column of the latest version of each key, with `source_relation` (the shard it came
    from: see union_shards). Loaders that append (target-jsonl, target-postgres with load_method
    append-only) keep every version, so staging never relies on an upsert. The latest is the one
    extracted last; _sdc_batched_at breaks ties within one extraction. Keys are unique per shard,
    so versions are ranked within (source_relation, key). -#}
select *
from (
    select
        raw.*,
        row_number() over (
            partition by raw.source_relation, {{ key_columns | join(', ') }}
            order by raw._sdc_extracted_at desc nulls last, raw._sdc_batched_at desc nulls last
        ) as _version_rank
    from ({{ union_shards(relation) }}) as raw
) as versions
where _version_rank = 1
{% endmacro %}


{% macro money(column) -%}
    cast({{ column }} as decimal(18, 2))
{%- endmacro %}


{% macro brazil_time(column) -%}
{#- A stored timestamp as wall-clock time in the reporting zone (var mindzpay_reporting_time_zone,
    America/Sao_Paulo by default). Loaders store timestamps without a zone; var
    mindzpay_timestamps_stored_in names the zone they were written in (UTC for target-duckdb and
    target-postgres with the server's default TimeZone). The conversion uses the warehouse's zone
    database, so a zone with daylight saving time (Brazil had it until 2019) is converted right. -#}
    {{ convert_time_zone(
        column,
        var('mindzpay_timestamps_stored_in', 'UTC'),
        var('mindzpay_reporting_time_zone', 'America/Sao_Paulo')
    ) }}
{%- endmacro %}


{% macro month_of(column) -%}
{#- First day of the month of `column` in the reporting zone, as a date. -#}
    cast({{ dbt.date_trunc('month', brazil_time(column)) }} as date)
{%- endmacro %}


{% macro day_of(column) -%}
{#- The day of `column` in the reporting zone, as a date. -#}
    cast({{ brazil_time(column) }} as date)
{%- endmacro %}
