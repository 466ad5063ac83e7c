-- Mindz platform users (learners, buyers, teachers): the latest version per id, users removed on
-- an LGPD request dropped. Only the columns the tap selects by default: no CPF/CNPJ, phone, birth
-- date or address.
with latest as (
    {{ latest_per_key(source('mindz', 'users'), ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    email,
    first_name,
    last_name,
    username,
    suspended,
    gender,
    person_type,
    corporate_name,
    country,
    state,
    city,
    last_login_at,
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
