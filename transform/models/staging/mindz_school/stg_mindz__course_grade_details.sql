-- A grade's details (lessons), one row per live id; removed lessons dropped.
with latest as (
    {{ latest_per_key(source('mindz_school', 'course_grade_details'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    cast(grade_id as bigint) as grade_id,
    cast(course_id as bigint) as course_id,
    name,
    kind,
    cast(position as integer) as position,
    cast(duration_seconds as integer) as duration_seconds,
    free_preview,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
