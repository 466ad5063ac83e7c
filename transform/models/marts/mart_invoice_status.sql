-- Every live invoice's current status and the time it spent in flight (0, 1, 4), from the status
-- history the tap observed (int_mindzpay__invoice_status_periods). Time before the first
-- observation is unknown to the load and not counted.
with periods as (
    select * from {{ ref('int_mindzpay__invoice_status_periods') }}
),

as_of as (
    select source_relation, max(as_of) as as_of
    from periods
    group by source_relation
),

per_invoice as (
    select
        source_relation,
        invoice_id,
        min(entered_at) as first_observed_at,
        max(entered_at) as status_since,
        count(*) as observed_statuses,
        sum(case when is_in_flight then seconds_in_status else 0 end) as seconds_in_flight
    from periods
    group by source_relation, invoice_id
)

select
    invoices.source_relation,
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
    as_of.as_of,
    cast(round({{ seconds_between('per_invoice.status_since', 'as_of.as_of') }} / 86400.0, 2)
        as decimal(18, 2)) as days_in_status,
    coalesce(
        invoices.is_in_flight
        and {{ seconds_between('per_invoice.status_since', 'as_of.as_of') }}
            > {{ var('mindzpay_stuck_after_days', 3) }} * 86400,
        false
    ) as is_stuck
from {{ ref('stg_mindzpay__invoices') }} as invoices
left join per_invoice
    on per_invoice.source_relation = invoices.source_relation
    and per_invoice.invoice_id = invoices.id
left join as_of
    on as_of.source_relation = invoices.source_relation
