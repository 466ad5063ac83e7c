-- The school's staff and their permissions, one row per live id.
with latest as (
    {{ latest_per_key(source('mindz_school', 'teams'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    cast(user_id as bigint) as user_id,
    admin,
    teacher,
    courses,
    gurupay,
    statistics,
    marketing,
    editor,
    integration,
    team,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
