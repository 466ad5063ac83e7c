-- Mindz subscription plans (what a MindzPay subscription's plan_id names): the latest version per
-- id, price exact. `interval` is a reserved word: it becomes billing_interval.
with latest as (
    {{ latest_per_key(source('mindz', 'plans'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    name,
    description,
    {{ adapter.quote('interval') }} as billing_interval,
    cast(frequency as integer) as frequency,
    cast(max_cycles as integer) as max_cycles,
    {{ money('price') }} as price,
    cast(access_days as integer) as access_days,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
