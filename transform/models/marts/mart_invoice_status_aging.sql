-- How long notas fiscais wait in each status: per status, the notas in it now, the periods
-- observed in it (closed and current), their average and longest duration, and the notas stuck
-- in it: in flight (0, 1, 4) for more than var mindzpay_stuck_after_days days now.
with periods as (
    select * from {{ ref('int_mindzpay__invoice_status_periods') }}
),

per_status as (
    select
        source_relation,
        status,
        count(*) as periods_observed,
        sum(case when is_current then 1 else 0 end) as notas_now,
        avg(seconds_in_status) as average_seconds,
        max(seconds_in_status) as longest_seconds,
        sum(
            case
                when is_current and is_in_flight
                    and seconds_in_status > {{ var('mindzpay_stuck_after_days', 3) }} * 86400
                then 1 else 0
            end
        ) as notas_stuck
    from periods
    group by source_relation, status
)

select
    per_status.source_relation,
    statuses.status,
    statuses.label as status_label,
    statuses.is_in_flight,
    per_status.notas_now,
    per_status.periods_observed,
    cast(round(per_status.average_seconds / 86400.0, 2) as decimal(18, 2)) as average_days,
    cast(round(per_status.longest_seconds / 86400.0, 2) as decimal(18, 2)) as longest_days,
    per_status.notas_stuck,
    {{ var('mindzpay_stuck_after_days', 3) }} as stuck_after_days
from per_status
inner join {{ ref('mindzpay_invoice_statuses') }} as statuses
    on statuses.status = per_status.status
