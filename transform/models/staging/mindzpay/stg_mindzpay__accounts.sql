-- MindzPay accounts: the latest version per id.
with latest as (
    {{ latest_per_key(source('mindzpay', 'accounts'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    key,
    name,
    document,
    status,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
