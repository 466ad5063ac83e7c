-- Monthly recurring revenue by plan and month (reporting time zone). See the rule in _marts.yml.
select
    source_relation,
    plan_id,
    month,
    count(*) as active_subscriptions,
    cast(sum(mrr_cents) * 0.01 as decimal(18, 2)) as mrr
from {{ ref('int_mindzpay__subscription_months') }}
where mrr_cents > 0
group by source_relation, plan_id, month
