-- What a campaign targets (plans), one row per live id.
{{ campaign_link(source('mindz_school', 'email_campaign_plans'), 'plan_id') }}
