-- MRR of each subscription in each month, and its movement from the month before: new,
-- expansion, contraction, churned, reactivation or unchanged (rule in _marts.yml).
with months as (
    select
        source_relation,
        subscription_id,
        plan_id,
        customer_email,
        month,
        mrr_cents,
        coalesce(
            lag(mrr_cents) over (
                partition by source_relation, subscription_id order by month
            ),
            0
        ) as previous_mrr_cents,
        -- Whether the subscription had MRR in any earlier month (tells new from reactivation).
        coalesce(
            max(mrr_cents) over (
                partition by source_relation, subscription_id
                order by month
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) > 0 as had_mrr_before
    from {{ ref('int_mindzpay__subscription_months') }}
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
where mrr_cents > 0 or previous_mrr_cents > 0
