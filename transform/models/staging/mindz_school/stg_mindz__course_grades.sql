-- A course's grades (modules), one row per live id.
with latest as (
    {{ latest_per_key(source('mindz_school', 'course_grades'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    cast(course_id as bigint) as course_id,
    name,
    cast(position as integer) as position,
    cast(release_days as integer) as release_days,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
