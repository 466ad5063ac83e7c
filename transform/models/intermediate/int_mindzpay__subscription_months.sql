-- One row per subscription and month from the month it started to the month after it ended (its
-- MRR there is 0: the month it churned), capped at the newest month the data knows. The monthly
-- amount and the rule of when a subscription counts are documented on mart_mrr_by_subscription.
with subscriptions as (
    select
        source_relation,
        id as subscription_id,
        plan_id,
        customer_email,
        {{ brazil_time('created_at') }} as started_at,
        case
            when status = 'canceled' then {{ brazil_time('canceled_at') }}
            when status = 'suspended' then {{ brazil_time('updated_at') }}
        end as ended_at,
        -- amount x (intervals per year) / (12 x frequency), rounded half up to the cent, in
        -- integer cents so every warehouse rounds the same way.
        cast(amount * 100 as bigint) as amount_cents,
        case billing_interval
            when 'days' then 365
            when 'weeks' then 52
            when 'months' then 12
            when 'years' then 1
        end as intervals_per_year,
        frequency
    from {{ ref('stg_mindzpay__subscriptions') }}
),

monthly as (
    select
        source_relation,
        subscription_id,
        plan_id,
        customer_email,
        started_at,
        ended_at,
        {{ integer_division('2 * amount_cents * intervals_per_year + 12 * frequency', '24 * frequency') }}
            as monthly_cents
    from subscriptions
),

bounds as (
    select
        min({{ month_of('created_at') }}) as first_month,
        max({{ month_of('case when updated_at > created_at then updated_at else created_at end') }})
            as last_month
    from {{ ref('stg_mindzpay__subscriptions') }}
),

months as (
    {{ month_spine('(select first_month from bounds)', '(select last_month from bounds)') }}
)

select
    monthly.source_relation,
    monthly.subscription_id,
    monthly.plan_id,
    monthly.customer_email,
    months.month,
    -- Counted in a month when it started before the month ended and had not ended when the
    -- month began.
    case
        when monthly.started_at < {{ dbt.dateadd('month', 1, 'months.month') }}
            and (monthly.ended_at is null or monthly.ended_at > months.month)
        then monthly.monthly_cents
        else 0
    end as mrr_cents
from monthly
inner join months
    on months.month >= cast({{ dbt.date_trunc('month', 'monthly.started_at') }} as date)
    and (
        monthly.ended_at is null
        or months.month <= {{ dbt.dateadd('month', 1, dbt.date_trunc('month', 'monthly.ended_at')) }}
    )
