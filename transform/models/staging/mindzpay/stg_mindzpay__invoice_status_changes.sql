-- Every invoice status transition the tap observed, once per key (invoice_id, to_status,
-- observed_at: a run resumed after a crash writes the same key again). The history of an invoice
-- MindzPay support deleted is kept, flagged with invoice_deleted.
with latest as (
    {{ latest_per_key(source('mindzpay', 'invoice_status_changes'), ['invoice_id', 'to_status', 'observed_at']) }}
),

deleted_invoices as (
    select source_relation, id
    from ({{ latest_per_key(source('mindzpay', 'invoices'), ['id']) }}) as invoices
    where _sdc_deleted_at is not null
)

select
    latest.source_relation,
    cast(latest.invoice_id as bigint) as invoice_id,
    latest.account_key,
    cast(latest.from_status as integer) as from_status,
    from_statuses.label as from_status_label,
    cast(latest.to_status as integer) as to_status,
    to_statuses.label as to_status_label,
    latest.observed_at,
    latest.via,
    deleted_invoices.id is not null as invoice_deleted
from latest
left join deleted_invoices
    on deleted_invoices.source_relation = latest.source_relation
    and deleted_invoices.id = latest.invoice_id
left join {{ ref('mindzpay_invoice_statuses') }} as from_statuses
    on from_statuses.status = latest.from_status
left join {{ ref('mindzpay_invoice_statuses') }} as to_statuses
    on to_statuses.status = latest.to_status
where latest._sdc_deleted_at is null
