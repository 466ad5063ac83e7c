{#- Each month's MRR is the month before's plus its movements (new, expansion, contraction,
    churned, reactivation). -#}
{% test mrr_movements_add_up(model) %}
select source_relation, month, mrr, previous_mrr
from {{ model }}
where mrr <> previous_mrr + new_mrr + expansion_mrr + contraction_mrr + churned_mrr
    + reactivation_mrr
{% endtest %}
