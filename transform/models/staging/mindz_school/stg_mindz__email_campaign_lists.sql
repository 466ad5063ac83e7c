-- What a campaign targets (lists), one row per live id.
{{ campaign_link(source('mindz_school', 'email_campaign_lists'), 'email_list_id') }}
