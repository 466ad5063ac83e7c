-- Paid revenue per teacher through their courses: for each user who teaches a course (Mindz
-- course teachers), the MindzPay payments with status paid whose enrollment is for one of those
-- courses, counted once per course (int_mindzpay__paid_course_sales, as mart_revenue_by_course
-- counts them). Every teacher has a row, those whose courses sold nothing with zeros. Ids repeat
-- across shards, so every join matches source_relation and a teacher is a (source_relation,
-- user id).
with teaching as (
    select distinct source_relation, user_id, course_id
    from {{ ref('stg_mindz__course_teachers') }}
)

select
    teaching.source_relation,
    teaching.user_id as teacher_user_id,
    count(distinct teaching.course_id) as courses,
    count(paid_sales.payment_id) as paid_payments,
    {{ money('coalesce(sum(paid_sales.amount), 0)') }} as gross_revenue,
    {{ money('coalesce(sum(paid_sales.amount) - sum(paid_sales.fee), 0)') }} as net_revenue
from teaching
left join {{ ref('int_mindzpay__paid_course_sales') }} as paid_sales
    on paid_sales.source_relation = teaching.source_relation
    and paid_sales.course_id = teaching.course_id
group by teaching.source_relation, teaching.user_id
