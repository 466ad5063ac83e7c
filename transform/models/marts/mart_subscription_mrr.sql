-- Monthly recurring revenue by plan and month (reporting time zone): mart_mrr_by_subscription
-- summed by plan, so closed months stay as they closed here too. See the rule in _marts.yml.
select
    source_relation,
    plan_id,
    month,
    count(*) as active_subscriptions,
    cast(sum(mrr) as decimal(18, 2)) as mrr
from {{ ref('mart_mrr_by_subscription') }}
where mrr > 0
group by source_relation, plan_id, month
