-- One row per Mindz user who has a MindzPay payment or subscription: first and last payment,
-- lifetime revenue (paid minus refunded), and subscriptions (matched by e-mail: a MindzPay
-- subscription names its customer by customer_email, not by user id).
with payments as (
    select
        source_relation,
        client_id,
        count(*) as payments,
        sum(case when status in ('paid', 'refunded', 'chargeback') then 1 else 0 end)
            as paid_payments,
        min(case when status in ('paid', 'refunded', 'chargeback') then paid_at end)
            as first_payment_at,
        max(case when status in ('paid', 'refunded', 'chargeback') then paid_at end)
            as last_payment_at,
        sum(case when status in ('paid', 'refunded', 'chargeback') then amount else 0 end)
            as gross_revenue,
        sum(case when status in ('refunded', 'chargeback') then amount else 0 end) as refunds,
        sum(case when status in ('paid', 'refunded', 'chargeback') then coalesce(fee, 0) else 0 end)
            as fees
    from {{ ref('stg_mindzpay__payments') }}
    where client_id is not null
    group by source_relation, client_id
),

subscriptions as (
    select
        source_relation,
        lower(customer_email) as email,
        count(*) as subscriptions,
        sum(case when status = 'active' then 1 else 0 end) as active_subscriptions
    from {{ ref('stg_mindzpay__subscriptions') }}
    group by source_relation, lower(customer_email)
)

select
    users.source_relation,
    users.id as user_id,
    users.email,
    users.first_name,
    users.last_name,
    coalesce(payments.payments, 0) as payments,
    coalesce(payments.paid_payments, 0) as paid_payments,
    payments.first_payment_at,
    payments.last_payment_at,
    cast(coalesce(payments.gross_revenue, 0) as decimal(18, 2)) as gross_revenue,
    cast(coalesce(payments.refunds, 0) as decimal(18, 2)) as refunds,
    cast(coalesce(payments.fees, 0) as decimal(18, 2)) as fees,
    cast(coalesce(payments.gross_revenue, 0) - coalesce(payments.refunds, 0) as decimal(18, 2))
        as lifetime_revenue,
    coalesce(subscriptions.subscriptions, 0) as subscriptions,
    coalesce(subscriptions.active_subscriptions, 0) as active_subscriptions
from {{ ref('stg_mindz__users') }} as users
left join payments
    on payments.source_relation = users.source_relation
    and payments.client_id = users.id
left join subscriptions
    on subscriptions.source_relation = users.source_relation
    and subscriptions.email = lower(users.email)
where payments.client_id is not null or subscriptions.email is not null
