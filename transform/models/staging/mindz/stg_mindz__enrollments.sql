-- Mindz enrollments: who has access to what (a course, a bundle or a plan: one of the three set)
-- and the MindzPay payment that bought it (null for a free or manual enrollment).
with latest as (
    {{ latest_per_key(source('mindz', 'enrollments'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    cast(user_id as bigint) as user_id,
    cast(course_id as bigint) as course_id,
    cast(bundle_id as bigint) as bundle_id,
    cast(plan_id as bigint) as plan_id,
    cast(payment_id as bigint) as payment_id,
    status,
    expires_at,
    cast(progress as integer) as progress,
    completed_at,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
