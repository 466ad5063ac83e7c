-- What a campaign leaves out (plans), one row per live id.
{{ campaign_link(source('mindz_school', 'email_campaign_excluded_plans'), 'plan_id') }}
