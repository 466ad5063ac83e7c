-- Monthly recurring revenue by plan and month (Brazil time). See the rule in _marts.yml.
with subscriptions as (
    select
        plan_id,
        id,
        {{ brazil_time('created_at') }} as started_at,
        case
            when status = 'canceled' then {{ brazil_time('canceled_at') }}
            when status = 'suspended' then {{ brazil_time('updated_at') }}
        end as ended_at,
        -- amount x (intervals per year) / (12 x frequency), rounded half up to the cent, in
        -- integer cents so both warehouses round the same way.
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
        plan_id,
        id,
        started_at,
        ended_at,
        {{ integer_division('2 * amount_cents * intervals_per_year + 12 * frequency', '24 * frequency') }}
            as monthly_cents
    from subscriptions
),

bounds as (
    select
        cast(date_trunc('month', min({{ brazil_time('created_at') }})) as date) as first_month,
        cast(date_trunc('month', max({{ brazil_time('greatest(created_at, updated_at)') }})) as date)
            as last_month
    from {{ ref('stg_mindzpay__subscriptions') }}
),

months as (
    -- Every month from the first subscription's start to the newest moment the data knows.
    select cast(bounds.first_month + interval '1 month' * step.n as date) as month
    from bounds
    cross join generate_series(0, 1199) as step (n)
    where bounds.first_month + interval '1 month' * step.n <= bounds.last_month
)

select
    monthly.plan_id,
    months.month,
    count(*) as active_subscriptions,
    cast(sum(monthly.monthly_cents) * 0.01 as decimal(18, 2)) as mrr
from months
inner join monthly
    on monthly.started_at < months.month + interval '1 month'
    and (monthly.ended_at is null or monthly.ended_at > months.month)
group by monthly.plan_id, months.month
