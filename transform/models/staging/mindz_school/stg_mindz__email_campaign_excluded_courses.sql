-- What a campaign leaves out (courses), one row per live id.
with latest as (
    {{ latest_per_key(source('mindz_school', 'email_campaign_excluded_courses'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    cast(email_campaign_id as bigint) as email_campaign_id,
    cast(course_id as bigint) as course_id,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
