-- Revenue per course: the MindzPay payments with status paid whose Mindz enrollment is for the
-- course (enrollments for a bundle or a plan name no course and count for none). A payment counts
-- once per course even if several enrollments for that course name it. Every course has a row,
-- those that sold nothing with zeros.
with paid_sales as (
    select distinct
        enrollments.source_relation,
        enrollments.course_id,
        payments.id as payment_id,
        payments.amount,
        payments.fee
    from {{ ref('stg_mindz__enrollments') }} as enrollments
    inner join {{ ref('stg_mindzpay__payments') }} as payments
        on payments.source_relation = enrollments.source_relation
        and payments.id = enrollments.payment_id
    where enrollments.course_id is not null
        and payments.status = 'paid'
),

per_course as (
    select
        source_relation,
        course_id,
        count(*) as paid_payments,
        sum(amount) as gross_revenue,
        sum(amount) - sum(fee) as net_revenue
    from paid_sales
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
