-- Teachers on courses and what each may see and do, one row per live id.
with latest as (
    {{ latest_per_key(source('mindz_school', 'course_teachers'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    cast(course_id as bigint) as course_id,
    cast(user_id as bigint) as user_id,
    tutor,
    grader,
    profile_viewer,
    news,
    financial,
    community_notification,
    teacher_visualization,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
