{% macro campaign_link(relation, target_column) %}
{#- A staging model of one of an e-mail campaign's link lists (the courses, plans or e-mail lists
    it targets or leaves out): the six are the same but for their source table `relation` and
    the column naming what is linked (`target_column`: course_id, plan_id or email_list_id). One
    row per live id, with the conventions of every staging model: latest_per_key's latest version
    per shard, removed links dropped, ids as bigint. -#}
with latest as (
    {{ latest_per_key(relation, ['id']) }}
)

select
    source_relation,
    cast(id as bigint) as id,
    cast(email_campaign_id as bigint) as email_campaign_id,
    cast({{ target_column }} as bigint) as {{ target_column }},
    created_at,
    updated_at
from latest
where _sdc_deleted_at is null
{% endmacro %}
