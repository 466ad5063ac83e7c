-- E-mail list contacts, one row per live id (address and name not loaded by default).
with latest as (
    {{ latest_per_key(source('mindz_school', 'emails'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    cast(email_list_id as bigint) as email_list_id,
    cast(user_id as bigint) as user_id,
    unsubscribed_at,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
