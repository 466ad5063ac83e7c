-- Revenue per course: the MindzPay payments with status paid whose Mindz enrollment is for the
-- course (int_mindzpay__paid_course_sales: enrollments for a bundle or a plan name no course and
-- count for none; a payment counts once per course even if several enrollments for that course
-- name it). Every course has a row, those that sold nothing with zeros.
with per_course as (
    select
        source_relation,
        course_id,
        count(*) as paid_payments,
        sum(amount) as gross_revenue,
        sum(amount) - sum(fee) as net_revenue
    from {{ ref('int_mindzpay__paid_course_sales') }}
    group by source_relation, course_id
)

select
    courses.source_relation,
    courses.id as course_id,
    courses.name as course_name,
    coalesce(per_course.paid_payments, 0) as paid_payments,
    {{ money('coalesce(per_course.gross_revenue, 0)') }} as gross_revenue,
    {{ money('coalesce(per_course.net_revenue, 0)') }} as net_revenue
from {{ ref('stg_mindz__courses') }} as courses
left join per_course
    on per_course.source_relation = courses.source_relation
    and per_course.course_id = courses.id
