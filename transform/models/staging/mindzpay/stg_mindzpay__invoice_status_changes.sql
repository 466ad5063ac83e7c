-- Every invoice status transition the tap observed, once per key (invoice_id, to_status,
-- observed_at: a run resumed after a crash writes the same key again). The history of an invoice
-- MindzPay support deleted is kept, flagged with invoice_deleted.
with latest as (
    {{ latest_per_key(source('mindzpay', 'invoice_status_changes'), ['invoice_id', 'to_status', 'observed_at']) }}
),

deleted_invoices as (
    select id
    from ({{ latest_per_key(source('mindzpay', 'invoices'), ['id']) }}) as invoices
    where _sdc_deleted_at is not null
)

select
    cast(latest.invoice_id as bigint) as invoice_id,
    latest.account_key,
    cast(latest.from_status as integer) as from_status,
    from_statuses.label as from_status_label,
    cast(latest.to_status as integer) as to_status,
    to_statuses.label as to_status_label,
    latest.observed_at,
    latest.via,
    latest.invoice_id in (select id from deleted_invoices) as invoice_deleted
from latest
left join {{ ref('mindzpay_invoice_statuses') }} as from_statuses
    on from_statuses.status = latest.from_status
left join {{ ref('mindzpay_invoice_statuses') }} as to_statuses
    on to_statuses.status = latest.to_status
where latest._sdc_deleted_at is null
