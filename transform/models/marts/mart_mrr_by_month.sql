-- Total MRR per month and what moved it: the sum of each movement's MRR change over the
-- subscriptions (mart_mrr_by_subscription), so previous MRR + the changes = MRR.
with per_month as (
    select
        source_relation,
        month,
        sum(mrr) as mrr,
        sum(previous_mrr) as previous_mrr,
        sum(case when mrr > 0 then 1 else 0 end) as active_subscriptions,
        {%- for movement in ['new', 'expansion', 'contraction', 'churned', 'reactivation'] %}
        sum(case when movement = '{{ movement }}' then mrr_change else 0 end) as {{ movement }}_mrr,
        {%- endfor %}
        {%- for movement in ['new', 'expansion', 'contraction', 'churned', 'reactivation', 'unchanged'] %}
        sum(case when movement = '{{ movement }}' then 1 else 0 end) as {{ movement }}_subscriptions{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('mart_mrr_by_subscription') }}
    group by source_relation, month
)

select
    source_relation,
    month,
    cast(mrr as decimal(18, 2)) as mrr,
    cast(previous_mrr as decimal(18, 2)) as previous_mrr,
    cast(mrr - previous_mrr as decimal(18, 2)) as net_new_mrr,
    active_subscriptions,
    {%- for movement in ['new', 'expansion', 'contraction', 'churned', 'reactivation'] %}
    cast({{ movement }}_mrr as decimal(18, 2)) as {{ movement }}_mrr,
    {%- endfor %}
    {%- for movement in ['new', 'expansion', 'contraction', 'churned', 'reactivation', 'unchanged'] %}
    {{ movement }}_subscriptions{{ ',' if not loop.last }}
    {%- endfor %}
from per_month
