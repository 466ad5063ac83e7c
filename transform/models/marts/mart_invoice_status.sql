-- Every live invoice's current status and the time it spent in flight (0, 1, 4), from the status
-- history the tap observed. The invoice was in the status of each change from that change's
-- observed_at until the next change's; the last status lasts until as_of, the latest observed_at
-- in the history (the newest moment of MindzPay's clock the load has seen). Time before the first
-- observation is unknown to the load and not counted.
with changes as (
    select
        changes.invoice_id,
        changes.to_status,
        changes.observed_at,
        lead(changes.observed_at) over (
            partition by changes.invoice_id
            order by changes.observed_at, changes.to_status
        ) as next_observed_at
    from {{ ref('stg_mindzpay__invoice_status_changes') }} as changes
    where not changes.invoice_deleted
),

as_of as (
    select max(observed_at) as as_of from changes
),

periods as (
    select
        changes.invoice_id,
        changes.observed_at,
        statuses.is_in_flight,
        {{ seconds_between('changes.observed_at', 'coalesce(changes.next_observed_at, as_of.as_of)') }}
            as seconds
    from changes
    cross join as_of
    inner join {{ ref('mindzpay_invoice_statuses') }} as statuses
        on statuses.status = changes.to_status
),

per_invoice as (
    select
        invoice_id,
        min(observed_at) as first_observed_at,
        max(observed_at) as status_since,
        count(*) as observed_statuses,
        sum(case when is_in_flight then seconds else 0 end) as seconds_in_flight
    from periods
    group by invoice_id
)

select
    invoices.id as invoice_id,
    invoices.account_key,
    invoices.status,
    invoices.status_label,
    invoices.is_in_flight,
    per_invoice.status_since,
    per_invoice.first_observed_at,
    coalesce(per_invoice.observed_statuses, 0) as observed_statuses,
    cast(coalesce(per_invoice.seconds_in_flight, 0) as bigint) as seconds_in_flight,
    cast(round(coalesce(per_invoice.seconds_in_flight, 0) / 3600.0, 2) as decimal(18, 2))
        as hours_in_flight,
    as_of.as_of
from {{ ref('stg_mindzpay__invoices') }} as invoices
left join per_invoice
    on per_invoice.invoice_id = invoices.id
cross join as_of
