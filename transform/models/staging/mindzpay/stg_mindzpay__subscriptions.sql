-- MindzPay subscriptions: the latest version per id, deletions dropped, money exact. `interval`
-- is a reserved word: it becomes billing_interval (days, weeks, months, years).
with latest as (
    {{ latest_per_key(source('mindzpay', 'subscriptions'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    cast(account_id as bigint) as account_id,
    account_key,
    cast(plan_id as bigint) as plan_id,
    customer_email,
    active,
    status,
    {{ adapter.quote('interval') }} as billing_interval,
    cast(frequency as integer) as frequency,
    {{ money('amount') }} as amount,
    next_charge_at,
    canceled_at,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
