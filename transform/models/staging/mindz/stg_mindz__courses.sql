-- Mindz courses: the latest version per id, price exact.
with latest as (
    {{ latest_per_key(source('mindz', 'courses'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    name,
    slug,
    status,
    {{ money('price') }} as price,
    cast(access_days as integer) as access_days,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
