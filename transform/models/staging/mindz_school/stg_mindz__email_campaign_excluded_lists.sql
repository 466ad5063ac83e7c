-- What a campaign leaves out (lists), one row per live id.
{{ campaign_link(source('mindz_school', 'email_campaign_excluded_lists'), 'email_list_id') }}
