-- One row per status an invoice was observed in: from that change's observed_at until the next
-- change's; the current status lasts until as_of, the latest observed_at in the shard's history
-- (the newest moment of MindzPay's clock the load has seen). Invoices support deleted are left out.
with changes as (
    select
        changes.source_relation,
        changes.invoice_id,
        changes.to_status,
        changes.observed_at,
        lead(changes.observed_at) over (
            partition by changes.source_relation, changes.invoice_id
            order by changes.observed_at, changes.to_status
        ) as next_observed_at
    from {{ ref('stg_mindzpay__invoice_status_changes') }} as changes
    where not changes.invoice_deleted
),

as_of as (
    select source_relation, max(observed_at) as as_of
    from changes
    group by source_relation
)

select
    changes.source_relation,
    changes.invoice_id,
    changes.to_status as status,
    statuses.label as status_label,
    statuses.is_in_flight,
    changes.observed_at as entered_at,
    changes.next_observed_at as left_at,
    changes.next_observed_at is null as is_current,
    {{ seconds_between('changes.observed_at', 'coalesce(changes.next_observed_at, as_of.as_of)') }}
        as seconds_in_status,
    as_of.as_of
from changes
inner join as_of
    on as_of.source_relation = changes.source_relation
inner join {{ ref('mindzpay_invoice_statuses') }} as statuses
    on statuses.status = changes.to_status
