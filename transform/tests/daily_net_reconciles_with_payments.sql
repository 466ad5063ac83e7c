-- Per shard, the sum of mart_daily_overview's net equals the paid payments' amounts minus the
-- refunded and charged-back ones', computed from staging: a payment counted on no day (a paid
-- one without paid_at) or on two shows here.
with mart as (
    select source_relation, sum(net) as net, sum(gross) as gross, sum(refunds) as refunds
    from {{ ref('mart_daily_overview') }}
    group by source_relation
),

payments as (
    select
        source_relation,
        sum(case when status = 'paid' then amount else 0 end) as paid,
        sum(case when status in ('paid', 'refunded', 'chargeback') then amount else 0 end)
            as ever_paid,
        sum(case when status in ('refunded', 'chargeback') then amount else 0 end) as refunded
    from {{ ref('stg_mindzpay__payments') }}
    group by source_relation
)

select payments.source_relation, mart.net, payments.paid, payments.refunded
from payments
left join mart
    on mart.source_relation = payments.source_relation
where mart.net is null
    or mart.net <> payments.ever_paid - payments.refunded
    or mart.net <> payments.paid
    or mart.gross <> payments.ever_paid
    or mart.refunds <> payments.refunded
