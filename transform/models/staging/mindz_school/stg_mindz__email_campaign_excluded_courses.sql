-- What a campaign leaves out (courses), one row per live id.
{{ campaign_link(source('mindz_school', 'email_campaign_excluded_courses'), 'course_id') }}
