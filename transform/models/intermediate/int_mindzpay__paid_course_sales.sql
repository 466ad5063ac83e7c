-- The paid sales of each course: one row per course and MindzPay payment with status paid whose
-- Mindz enrollment is for that course. A payment counts once per course even if several
-- enrollments for the course name it; enrollments for a bundle or a plan name no course and are
-- left out. Ids repeat across shards, so the join matches source_relation too.
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
