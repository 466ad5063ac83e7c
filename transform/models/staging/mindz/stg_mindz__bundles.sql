-- Mindz bundles (several courses sold together): the latest version per id, price exact.
with latest as (
    {{ latest_per_key(source('mindz', 'bundles'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    name,
    slug,
    {{ money('price') }} as price,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
