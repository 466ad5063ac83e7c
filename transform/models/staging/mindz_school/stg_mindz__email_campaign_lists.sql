-- What a campaign targets (lists), one row per live id.
with latest as (
    {{ latest_per_key(source('mindz_school', 'email_campaign_lists'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    cast(email_campaign_id as bigint) as email_campaign_id,
    cast(email_list_id as bigint) as email_list_id,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
