-- MindzPay payments: the latest version per id, deletions dropped, money exact.
with latest as (
    {{ latest_per_key(source('mindzpay', 'payments'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    account_key,
    cast(account_id as bigint) as account_id,
    cast(client_id as bigint) as client_id,
    cast(subscription_id as bigint) as subscription_id,
    method,
    card_brand,
    cast(installments as integer) as installments,
    {{ money('amount') }} as amount,
    {{ money('fee') }} as fee,
    status,
    cast(due_date as date) as due_date,
    paid_at,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
