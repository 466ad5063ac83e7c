"""Deterministic records of the rest of the Mindz platform: curriculum, staff, e-mail marketing.

Each maker takes the `random.Random` it draws from and returns one record as the API sends it
(`created_at` and `updated_at` set to `created`); `school.py` decides ids, links and moments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tap_mindzpay.sandbox.data import DOMAINS, FIRST_NAMES, LAST_NAMES, Record, ts

if TYPE_CHECKING:
    import random
    from datetime import datetime

LESSON_KINDS = ("video", "text", "quiz", "file", "live")
MODULE_NAMES = ("Boas-vindas", "Fundamentos", "Prática", "Projeto", "Avançado", "Bônus")
LESSON_TOPICS = ("Introdução", "Conceitos", "Exercício", "Estudo de caso", "Revisão", "Desafio")
TEACHER_FLAGS = (
    "tutor",
    "grader",
    "profile_viewer",
    "news",
    "financial",
    "community_notification",
    "teacher_visualization",
)
STAFF_FLAGS = (
    "admin",
    "teacher",
    "courses",
    "gurupay",
    "statistics",
    "marketing",
    "editor",
    "integration",
    "team",
)
LIST_NAMES = ("Newsletter", "Leads", "Alunos", "Black Friday", "Webinar", "Reengajamento")
#: The six campaign link lists: stream -> the field naming what the campaign targets or excludes.
CAMPAIGN_LINKS = {
    "email_campaign_courses": "course_id",
    "email_campaign_plans": "plan_id",
    "email_campaign_lists": "email_list_id",
    "email_campaign_excluded_courses": "course_id",
    "email_campaign_excluded_plans": "plan_id",
    "email_campaign_excluded_lists": "email_list_id",
}


def _times(created: datetime) -> Record:
    return {"created_at": ts(created), "updated_at": ts(created)}


def new_grade(
    record_id: int, course_id: int, position: int, release_days: int, created: datetime
) -> Record:
    """A course grade (module): its place in the course and the days until it opens."""
    name = f"Módulo {position}: {MODULE_NAMES[(position - 1) % len(MODULE_NAMES)]}"
    return {
        "id": record_id,
        "course_id": course_id,
        "name": name,
        "position": position,
        "release_days": release_days,
        **_times(created),
    }


def new_lesson(
    rng: random.Random, record_id: int, grade: Record, position: int, created: datetime
) -> Record:
    """A course grade detail (lesson) of `grade`; videos run 3 to 40 minutes."""
    kind = rng.choices(LESSON_KINDS, weights=[60, 15, 12, 8, 5])[0]
    duration = {"video": rng.randint(180, 2400), "live": rng.randint(1800, 5400)}.get(kind, 0)
    return {
        "id": record_id,
        "grade_id": grade["id"],
        "course_id": grade["course_id"],
        "name": f"Aula {position}: {rng.choice(LESSON_TOPICS)}",
        "kind": kind,
        "position": position,
        "duration_seconds": duration or rng.choice([0, 300, 600]),
        "free_preview": position == 1 and rng.random() < 0.5,  # noqa: PLR2004
        **_times(created),
    }


def new_teacher(
    rng: random.Random, record_id: int, course_id: int, user_id: int, created: datetime
) -> Record:
    """A teacher on a course with the permissions the platform's course-teacher page offers."""
    flags = {name: rng.random() < 0.5 for name in TEACHER_FLAGS}  # noqa: PLR2004
    flags["teacher_visualization"] = True
    return {"id": record_id, "course_id": course_id, "user_id": user_id, **flags, **_times(created)}


def new_staff(rng: random.Random, record_id: int, user_id: int, created: datetime) -> Record:
    """A team member (staff) with their permissions; about one in five is an admin."""
    flags = {name: rng.random() < 0.4 for name in STAFF_FLAGS}  # noqa: PLR2004
    flags["admin"] = rng.random() < 0.2  # noqa: PLR2004
    return {"id": record_id, "user_id": user_id, **flags, **_times(created)}


def new_email_list(record_id: int, created: datetime) -> Record:
    """An e-mail list; `contacts_count` is kept by `school.py` as contacts come and go."""
    name = f"{LIST_NAMES[(record_id - 1) % len(LIST_NAMES)]} {record_id}"
    return {
        "id": record_id,
        "name": name,
        "code": f"LST{record_id:04d}",
        "contacts_count": 0,
        **_times(created),
    }


def new_contact(
    rng: random.Random, record_id: int, list_id: int, user: Record | None, created: datetime
) -> Record:
    """A contact of an e-mail list: a platform user's address and name, or a lead's."""
    if user is not None:
        address, first, last = user["email"], user["first_name"], user["last_name"]
    else:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        address = f"{first}.{last}.lead{record_id}@{rng.choice(DOMAINS)}"
        first, last = first.capitalize(), last.capitalize()
    return {
        "id": record_id,
        "email_list_id": list_id,
        "email": address,
        "first_name": first,
        "last_name": last,
        "user_id": user["id"] if user is not None else None,
        "unsubscribed_at": None,
        **_times(created),
    }


def new_campaign(
    rng: random.Random, record_id: int, created: datetime, scheduled: datetime | None
) -> Record:
    """An e-mail campaign: a draft without `scheduled`, else scheduled for that moment."""
    topic = rng.choice(("Lançamento", "Promoção", "Novidades", "Última chance", "Convite"))
    return {
        "id": record_id,
        "name": f"Campanha {record_id}: {topic}",
        "subject": f"{topic}: confira o que preparamos para você",
        "status": "draft" if scheduled is None else "scheduled",
        "scheduled_at": ts(scheduled) if scheduled is not None else None,
        "sent_at": None,
        "recipients": 0,
        "opens": 0,
        "clicks": 0,
        **_times(created),
    }


def new_campaign_link(
    record_id: int, stream: str, campaign_id: int, target: int, created: datetime
) -> Record:
    """One row of a campaign's link list `stream`: the course, plan or list it names."""
    return {
        "id": record_id,
        "email_campaign_id": campaign_id,
        CAMPAIGN_LINKS[stream]: target,
        **_times(created),
    }
