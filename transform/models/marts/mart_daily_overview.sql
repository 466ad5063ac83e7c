-- Money per day (reporting time zone): payments paid that day (gross, and their fees), payments
-- refunded or charged back that day (refunds), and net = gross - refunds; in total and by method.
-- A payment refunded later counts in gross on the day it was paid and in refunds on the day of
-- the refund (its updated_at: the API records no separate refund time).
with payments as (
    select * from {{ ref('stg_mindzpay__payments') }}
),

movements as (
    select
        source_relation,
        {{ day_of('paid_at') }} as day,
        method,
        amount as gross,
        coalesce(fee, 0) as fees,
        cast(0 as decimal(18, 2)) as refunds,
        1 as paid_payments,
        0 as refunded_payments
    from payments
    where status in ('paid', 'refunded', 'chargeback')
    union all
    select
        source_relation,
        {{ day_of('updated_at') }} as day,
        method,
        cast(0 as decimal(18, 2)) as gross,
        cast(0 as decimal(18, 2)) as fees,
        amount as refunds,
        0 as paid_payments,
        1 as refunded_payments
    from payments
    where status in ('refunded', 'chargeback')
)

select
    source_relation,
    day,
    sum(paid_payments) as paid_payments,
    sum(refunded_payments) as refunded_payments,
    cast(sum(gross) as decimal(18, 2)) as gross,
    cast(sum(fees) as decimal(18, 2)) as fees,
    cast(sum(refunds) as decimal(18, 2)) as refunds,
    cast(sum(gross) - sum(refunds) as decimal(18, 2)) as net,
    cast(sum(gross) - sum(fees) - sum(refunds) as decimal(18, 2)) as net_after_fees,
    {%- for method, label in [('boleto', 'boleto'), ('credit_card', 'card'), ('pix', 'pix')] %}
    cast(sum(case when method = '{{ method }}' then gross else 0 end) as decimal(18, 2))
        as {{ label }}_gross,
    cast(sum(case when method = '{{ method }}' then gross - refunds else 0 end) as decimal(18, 2))
        as {{ label }}_net{{ ',' if not loop.last }}
    {%- endfor %}
from movements
group by source_relation, day
