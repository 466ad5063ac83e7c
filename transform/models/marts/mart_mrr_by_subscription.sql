-- MRR of each subscription in each month, and its movement from the month before: new,
-- expansion, contraction, churned, reactivation or unchanged (rule in _finance_marts.yml).
--
-- Incremental, so closed months stay as they were when they closed: the API shows only a
-- subscription's current status, and a suspended subscription that comes back would otherwise
-- rewrite its history (active all along). Each run recomputes the months from each shard's latest
-- month in the table on (delete+insert by source_relation and month) and keeps the months before
-- it; the first run of a month after it closes still recomputes it with the data of that run.
-- `dbt build --full-refresh` recomputes every month from the current data.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['source_relation', 'month'],
) }}

with computed as (
    select
        months.source_relation,
        months.subscription_id,
        months.plan_id,
        months.customer_email,
        months.month,
        months.mrr_cents,
        false as is_closed
    from {{ ref('int_mindzpay__subscription_months') }} as months
    {% if is_incremental() %}
    where months.month >= coalesce(
        (
            select max(kept.month)
            from {{ this }} as kept
            where kept.source_relation = months.source_relation
        ),
        cast('1900-01-01' as date)
    )
    {% endif %}
),

{% if is_incremental() %}
closed as (
    -- The months before each shard's latest month in the table, as they were computed.
    select
        kept.source_relation,
        kept.subscription_id,
        kept.plan_id,
        kept.customer_email,
        kept.month,
        cast(kept.mrr * 100 as bigint) as mrr_cents,
        true as is_closed
    from {{ this }} as kept
    where kept.month < (
        select max(latest.month)
        from {{ this }} as latest
        where latest.source_relation = kept.source_relation
    )
),
{% endif %}

series as (
    select * from computed
    {% if is_incremental() %}
    union all
    select * from closed
    {% endif %}
),

ordered as (
    select
        series.*,
        lag(month) over (
            partition by source_relation, subscription_id order by month
        ) as previous_month,
        lag(mrr_cents) over (
            partition by source_relation, subscription_id order by month
        ) as previous_row_cents,
        -- Whether the subscription had MRR in any earlier month (tells new from reactivation).
        coalesce(
            max(mrr_cents) over (
                partition by source_relation, subscription_id
                order by month
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) > 0 as had_mrr_before
    from series
),

months as (
    select
        ordered.*,
        -- Closed months keep only rows with MRR now or the month before: a gap means 0.
        case
            when previous_month = cast({{ dbt.dateadd('month', -1, 'month') }} as date)
            then previous_row_cents
            else 0
        end as previous_mrr_cents
    from ordered
)

select
    source_relation,
    subscription_id,
    plan_id,
    customer_email,
    month,
    cast(mrr_cents * 0.01 as decimal(18, 2)) as mrr,
    cast(previous_mrr_cents * 0.01 as decimal(18, 2)) as previous_mrr,
    cast((mrr_cents - previous_mrr_cents) * 0.01 as decimal(18, 2)) as mrr_change,
    case
        when mrr_cents > 0 and previous_mrr_cents = 0 and not had_mrr_before then 'new'
        when mrr_cents > 0 and previous_mrr_cents = 0 then 'reactivation'
        when mrr_cents = 0 then 'churned'
        when mrr_cents > previous_mrr_cents then 'expansion'
        when mrr_cents < previous_mrr_cents then 'contraction'
        else 'unchanged'
    end as movement
from months
where (mrr_cents > 0 or previous_mrr_cents > 0)
    and not is_closed
