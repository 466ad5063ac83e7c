-- MindzPay invoices (notas fiscais): the latest version per id, deletions dropped, money exact,
-- the status code with its pt-BR label and whether it is still in flight.
with latest as (
    {{ latest_per_key(source('mindzpay', 'invoices'), ['id']) }}
)

select
    latest.source_relation,
    cast(latest.id as bigint) as id,
    latest.account_key,
    cast(latest.account_id as bigint) as account_id,
    latest.nfe_id,
    cast(latest.status as integer) as status,
    statuses.label as status_label,
    statuses.is_in_flight,
    cast(latest.payment_id as bigint) as payment_id,
    cast(latest.client_id as bigint) as client_id,
    {{ money('latest.amount') }} as amount,
    latest.file_url,
    latest.issued_at,
    latest.canceled_at,
    latest.created_at,
    latest.updated_at
from latest
left join {{ ref('mindzpay_invoice_statuses') }} as statuses
    on statuses.status = latest.status
where latest._sdc_deleted_at is null
