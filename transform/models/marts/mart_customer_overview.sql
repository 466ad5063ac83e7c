-- One row per customer, known by e-mail: a Mindz user who paid through MindzPay (a payment names
-- its payer by client_id, a user id) or a MindzPay subscription's customer_email (a subscription
-- names no user id). First and last payment, lifetime revenue (paid minus refunded) and
-- subscriptions, active ones apart.
with payers as (
    select
        payments.source_relation,
        lower(users.email) as email,
        min(users.id) as user_id,
        count(*) as payments,
        sum(case when payments.status in ('paid', 'refunded', 'chargeback') then 1 else 0 end)
            as paid_payments,
        min(case when payments.status in ('paid', 'refunded', 'chargeback') then payments.paid_at end)
            as first_payment_at,
        max(case when payments.status in ('paid', 'refunded', 'chargeback') then payments.paid_at end)
            as last_payment_at,
        sum(
            case when payments.status in ('paid', 'refunded', 'chargeback') then payments.amount else 0 end
        ) as gross_revenue,
        sum(case when payments.status in ('refunded', 'chargeback') then payments.amount else 0 end)
            as refunds,
        sum(
            case
                when payments.status in ('paid', 'refunded', 'chargeback')
                then coalesce(payments.fee, 0) else 0
            end
        ) as fees
    from {{ ref('stg_mindzpay__payments') }} as payments
    inner join {{ ref('stg_mindz__users') }} as users
        on users.source_relation = payments.source_relation
        and users.id = payments.client_id
    group by payments.source_relation, lower(users.email)
),

subscribers as (
    select
        source_relation,
        lower(customer_email) as email,
        count(*) as subscriptions,
        sum(case when status = 'active' then 1 else 0 end) as active_subscriptions,
        min(created_at) as first_subscribed_at
    from {{ ref('stg_mindzpay__subscriptions') }}
    where customer_email is not null
    group by source_relation, lower(customer_email)
),

customers as (
    select source_relation, email from payers
    union
    select source_relation, email from subscribers
)

select
    customers.source_relation,
    customers.email,
    payers.user_id,
    coalesce(payers.payments, 0) as payments,
    coalesce(payers.paid_payments, 0) as paid_payments,
    payers.first_payment_at,
    payers.last_payment_at,
    cast(coalesce(payers.gross_revenue, 0) as decimal(18, 2)) as gross_revenue,
    cast(coalesce(payers.refunds, 0) as decimal(18, 2)) as refunds,
    cast(coalesce(payers.fees, 0) as decimal(18, 2)) as fees,
    cast(coalesce(payers.gross_revenue, 0) - coalesce(payers.refunds, 0) as decimal(18, 2))
        as lifetime_revenue,
    coalesce(subscribers.subscriptions, 0) as subscriptions,
    coalesce(subscribers.active_subscriptions, 0) as active_subscriptions,
    subscribers.first_subscribed_at
from customers
left join payers
    on payers.source_relation = customers.source_relation
    and payers.email = customers.email
left join subscribers
    on subscribers.source_relation = customers.source_relation
    and subscribers.email = customers.email
