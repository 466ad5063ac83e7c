{#- Every non-null `column_name` names a row of `to` (by `field`) in the same shard: the
    relationships test with source_relation on both sides, since ids repeat across shards. -#}
{% test related_in_shard(model, column_name, to, field) %}
select child.source_relation, child.{{ column_name }}
from (select * from {{ model }}) as child
left join (select * from {{ to }}) as parent
    on parent.source_relation = child.source_relation
    and parent.{{ field }} = child.{{ column_name }}
where child.{{ column_name }} is not null
    and parent.{{ field }} is null
{% endtest %}
