-- E-mail campaigns, one row per live id.
with latest as (
    {{ latest_per_key(source('mindz_school', 'email_campaigns'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    name,
    subject,
    status,
    scheduled_at,
    sent_at,
    cast(recipients as integer) as recipients,
    cast(opens as integer) as opens,
    cast(clicks as integer) as clicks,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
