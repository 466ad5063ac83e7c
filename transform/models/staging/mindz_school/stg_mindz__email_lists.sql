-- E-mail lists, one row per live id.
with latest as (
    {{ latest_per_key(source('mindz_school', 'email_lists'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    name,
    code,
    cast(contacts_count as integer) as contacts_count,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
