-- What each course holds and what it sold: its modules (course grades), lessons (grade details)
-- and their total duration, next to its paid payments and revenue (mart_revenue_by_course).
-- Removed lessons are not counted; a course without modules has zeros. Ids repeat across shards,
-- so a course is a (source_relation, id) and every join matches source_relation.
with modules as (
    select source_relation, course_id, count(*) as modules
    from {{ ref('stg_mindz__course_grades') }}
    group by source_relation, course_id
),

lessons as (
    select
        source_relation,
        course_id,
        count(*) as lessons,
        sum(duration_seconds) as duration_seconds
    from {{ ref('stg_mindz__course_grade_details') }}
    group by source_relation, course_id
)

select
    courses.source_relation,
    courses.id as course_id,
    courses.name as course_name,
    courses.status as course_status,
    coalesce(modules.modules, 0) as modules,
    coalesce(lessons.lessons, 0) as lessons,
    coalesce(lessons.duration_seconds, 0) as total_duration_seconds,
    revenue.paid_payments,
    revenue.gross_revenue
from {{ ref('stg_mindz__courses') }} as courses
left join modules
    on modules.source_relation = courses.source_relation
    and modules.course_id = courses.id
left join lessons
    on lessons.source_relation = courses.source_relation
    and lessons.course_id = courses.id
inner join {{ ref('mart_revenue_by_course') }} as revenue
    on revenue.source_relation = courses.source_relation
    and revenue.course_id = courses.id
