-- What a campaign targets (courses), one row per live id.
{{ campaign_link(source('mindz_school', 'email_campaign_courses'), 'course_id') }}
