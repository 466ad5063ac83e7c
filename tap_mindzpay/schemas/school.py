"""Schemas of the rest of the Mindz platform: curriculum, teachers, staff, e-mail marketing.

Course grades (modules) and their details (lessons), course teachers, teams (staff), e-mail
lists and their contacts, e-mail campaigns and the six lists linking a campaign to the courses,
plans and lists it targets or excludes. Built from the fragments of ``tap_mindzpay.schemas``;
every record has ``updated_at`` and may be marked ``_sdc_deleted_at`` when removed upstream.
"""

from __future__ import annotations

from tap_mindzpay.schemas import (
    BOOLEAN,
    DELETED_AT,
    ID,
    INTEGER,
    STRING,
    TIMES,
    TIMESTAMP,
    Schema,
    enum,
    stream_schema,
)
from tap_mindzpay.schemas import BY_STREAM as BASE_BY_STREAM


def _link(description: str) -> Schema:
    return {**INTEGER, "description": description}


def _flags(*names: str) -> dict[str, Schema]:
    return dict.fromkeys(names, BOOLEAN)


def _record(**properties: Schema) -> Schema:
    """A record of these properties with ``id``, deletion marker and timestamps."""
    return stream_schema(("id",), id=ID, **properties, _sdc_deleted_at=DELETED_AT, **TIMES)


COURSE_ID = _link("Id of the course.")
USER_ID = _link("Id of the user.")
EMAIL_LIST_ID = _link("Id of the e-mail list.")
EMAIL_CAMPAIGN_ID = _link("Id of the e-mail campaign.")
PLAN_ID = _link("Id of the plan.")

#: Contacts' properties that are personal data under the LGPD (as the users' are).
CONTACT_PERSONAL_DATA = ("email", "first_name", "last_name")

COURSE_GRADES = _record(
    course_id=COURSE_ID,
    name=STRING,
    position=INTEGER,
    release_days={**INTEGER, "description": "Days after enrollment before the module opens."},
)
COURSE_GRADE_DETAILS = _record(
    grade_id=_link("Id of the course grade (module)."),
    course_id=COURSE_ID,
    name=STRING,
    kind=enum("video", "text", "quiz", "file", "live"),
    position=INTEGER,
    duration_seconds=INTEGER,
    free_preview=BOOLEAN,
)
COURSE_TEACHERS = _record(
    course_id=COURSE_ID,
    user_id=USER_ID,
    **_flags(
        "tutor",
        "grader",
        "profile_viewer",
        "news",
        "financial",
        "community_notification",
        "teacher_visualization",
    ),
)
TEAMS = _record(
    user_id=USER_ID,
    **_flags(
        "admin",
        "teacher",
        "courses",
        "gurupay",
        "statistics",
        "marketing",
        "editor",
        "integration",
        "team",
    ),
)
EMAIL_LISTS = _record(name=STRING, code=STRING, contacts_count=INTEGER)
EMAILS = _record(
    email_list_id=EMAIL_LIST_ID,
    email=STRING,
    first_name=STRING,
    last_name=STRING,
    user_id={**USER_ID, "description": "Id of the user, when the contact is one."},
    unsubscribed_at=TIMESTAMP,
)
EMAIL_CAMPAIGNS = _record(
    name=STRING,
    subject=STRING,
    status=enum("draft", "scheduled", "sending", "sent", "canceled"),
    scheduled_at=TIMESTAMP,
    sent_at=TIMESTAMP,
    recipients=INTEGER,
    opens=INTEGER,
    clicks=INTEGER,
)
CAMPAIGN_COURSES = _record(email_campaign_id=EMAIL_CAMPAIGN_ID, course_id=COURSE_ID)
CAMPAIGN_PLANS = _record(email_campaign_id=EMAIL_CAMPAIGN_ID, plan_id=PLAN_ID)
CAMPAIGN_LISTS = _record(email_campaign_id=EMAIL_CAMPAIGN_ID, email_list_id=EMAIL_LIST_ID)

BY_STREAM: dict[str, Schema] = {
    "course_grades": COURSE_GRADES,
    "course_grade_details": COURSE_GRADE_DETAILS,
    "course_teachers": COURSE_TEACHERS,
    "teams": TEAMS,
    "email_lists": EMAIL_LISTS,
    "emails": EMAILS,
    "email_campaigns": EMAIL_CAMPAIGNS,
    "email_campaign_courses": CAMPAIGN_COURSES,
    "email_campaign_plans": CAMPAIGN_PLANS,
    "email_campaign_lists": CAMPAIGN_LISTS,
    "email_campaign_excluded_courses": CAMPAIGN_COURSES,
    "email_campaign_excluded_plans": CAMPAIGN_PLANS,
    "email_campaign_excluded_lists": CAMPAIGN_LISTS,
}

#: Each stream's schema by the stream's name: the MindzPay and platform ones, and the rest.
STREAM_SCHEMAS: dict[str, Schema] = {**BASE_BY_STREAM, **BY_STREAM}
