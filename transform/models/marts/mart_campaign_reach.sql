-- Reach of each e-mail campaign: its recipients, opens and clicks, and the MindzPay payments with
-- status paid, paid in the 7 days from the moment it was sent, whose enrollment is for a course
-- or a plan the campaign targets (email_campaign_courses, email_campaign_plans). A payment counts
-- once per campaign. Campaigns not sent have zeros. Ids repeat across shards, so a campaign is a
-- (source_relation, id) and every join matches source_relation.
with targets as (
    select source_relation, email_campaign_id, course_id, cast(null as bigint) as plan_id
    from {{ ref('stg_mindz__email_campaign_courses') }}
    union all
    select source_relation, email_campaign_id, cast(null as bigint) as course_id, plan_id
    from {{ ref('stg_mindz__email_campaign_plans') }}
),

paid_sales as (
    select
        enrollments.source_relation,
        enrollments.course_id,
        enrollments.plan_id,
        payments.id as payment_id,
        payments.amount,
        payments.paid_at
    from {{ ref('stg_mindz__enrollments') }} as enrollments
    inner join {{ ref('stg_mindzpay__payments') }} as payments
        on payments.source_relation = enrollments.source_relation
        and payments.id = enrollments.payment_id
    where payments.status = 'paid'
),

attributed as (
    select distinct
        campaigns.source_relation,
        campaigns.id as email_campaign_id,
        paid_sales.payment_id,
        paid_sales.amount
    from {{ ref('stg_mindz__email_campaigns') }} as campaigns
    inner join targets
        on targets.source_relation = campaigns.source_relation
        and targets.email_campaign_id = campaigns.id
    inner join paid_sales
        on paid_sales.source_relation = targets.source_relation
        and (paid_sales.course_id = targets.course_id or paid_sales.plan_id = targets.plan_id)
    where campaigns.sent_at is not null
        and paid_sales.paid_at >= campaigns.sent_at
        and paid_sales.paid_at < {{ dbt.dateadd('day', 7, 'campaigns.sent_at') }}
),

per_campaign as (
    select
        source_relation,
        email_campaign_id,
        count(*) as paid_payments,
        sum(amount) as paid_revenue
    from attributed
    group by source_relation, email_campaign_id
)

select
    campaigns.source_relation,
    campaigns.id as email_campaign_id,
    campaigns.name as campaign_name,
    campaigns.status,
    campaigns.sent_at,
    campaigns.recipients,
    campaigns.opens,
    campaigns.clicks,
    coalesce(per_campaign.paid_payments, 0) as paid_payments_7d,
    {{ money('coalesce(per_campaign.paid_revenue, 0)') }} as paid_revenue_7d
from {{ ref('stg_mindz__email_campaigns') }} as campaigns
left join per_campaign
    on per_campaign.source_relation = campaigns.source_relation
    and per_campaign.email_campaign_id = campaigns.id
