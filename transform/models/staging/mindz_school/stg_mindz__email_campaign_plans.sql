-- What a campaign targets (plans), one row per live id.
with latest as (
    {{ latest_per_key(source('mindz_school', 'email_campaign_plans'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    cast(email_campaign_id as bigint) as email_campaign_id,
    cast(plan_id as bigint) as plan_id,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
