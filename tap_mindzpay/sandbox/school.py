"""The rest of the Mindz platform in the sandbox: curriculum, teachers, staff, e-mail marketing.

Course grades (modules) and their details (lessons), course teachers, teams (staff), e-mail
lists and their contacts, e-mail campaigns and their six link lists. They live in the world's
records like every other stream; the nested ones are partitioned by their parent's id (a
lesson by its grade, a contact by its list, a campaign link by its campaign), so a nested list
is one partition and a deletion drops the record from it.

Links always resolve: teachers are the course's `teacher_ids` (buyers), staff and contacts
that are users are buyers (never removed on an LGPD request), campaign links name courses,
plans and lists (never removed). What the clock removes are children: a lesson, a teacher, a
contact, a draft campaign's target.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tap_mindzpay.sandbox import school_data
from tap_mindzpay.sandbox.data import EPOCH, events, ts
from tap_mindzpay.sandbox.messages import ApiError
from tap_mindzpay.sandbox.school_data import CAMPAIGN_LINKS

if TYPE_CHECKING:
    from collections.abc import Callable

    from tap_mindzpay.sandbox.data import Record
    from tap_mindzpay.sandbox.world import World

#: Each stream and the field naming its parent (its partition); None: platform-wide.
OWNER_FIELD: dict[str, str | None] = {
    "course_grades": "course_id",
    "course_grade_details": "grade_id",
    "course_teachers": "course_id",
    "teams": None,
    "email_lists": None,
    "emails": "email_list_id",
    "email_campaigns": None,
    **dict.fromkeys(CAMPAIGN_LINKS, "email_campaign_id"),
}
SCHOOL_STREAMS = tuple(OWNER_FIELD)
SORTS = {
    stream: ("id", "created_at", "updated_at", *(("email",) if stream == "emails" else ()))
    for stream in SCHOOL_STREAMS
}
#: Events per simulated hour, school-wide.
RATES = {
    "lesson_added": 0.6,
    "lesson_reordered": 0.6,
    "lesson_removed": 0.25,
    "module_added": 0.1,
    "teacher_added": 0.1,
    "teacher_removed": 0.08,
    "staff_permission": 0.2,
    "contact_subscribed": 2.0,
    "contact_unsubscribed": 0.5,
    "contact_removed": 0.2,
    "campaign_scheduled": 0.08,
    "campaign_target_removed": 0.05,
}
#: Days after sending during which a campaign's opens and clicks still rise.
ENGAGEMENT_DAYS = 7
EMAIL_LISTS, STAFF = 4, 8

_CAMPAIGN_LINK = "|".join(name.removeprefix("email_campaign_") for name in CAMPAIGN_LINKS)
_ID = r"(?P<id>\d+)"
#: (pattern, stream); a pattern with `id` names one record, without it the list.
_PATHS = [
    (r"/courses/(?P<course>\d+)/grades", "course_grades"),
    (r"/courses/(?P<course>\d+)/grades/(?P<grade>\d+)/details", "course_grade_details"),
    (r"/courses/(?P<course>\d+)/teachers", "course_teachers"),
    (r"/teams", "teams"),
    (r"/email-lists", "email_lists"),
    (r"/email-lists/(?P<list>\d+)/emails", "emails"),
    (r"/email-campaigns", "email_campaigns"),
    (rf"/email-campaigns/(?P<campaign>\d+)/(?P<link>{_CAMPAIGN_LINK.replace('_', '-')})", ""),
]
ROUTES = [
    ("GET", re.compile(path + suffix), f"school_{kind}:{stream}")
    for path, stream in _PATHS
    for suffix, kind in (("", "list"), (f"/{_ID}", "get"))
]
_TEMPLATES = {
    "course": "{course_id}",
    "grade": "{grade_id}",
    "list": "{email_list_id}",
    "campaign": "{email_campaign_id}",
}


def stream_of(kind: str, params: dict[str, str]) -> str:
    """The stream a school route names (a campaign link's from its path)."""
    stream = kind.partition(":")[2]
    return stream or "email_campaign_" + params["link"].replace("-", "_")


def template(kind: str, params: dict[str, str]) -> str:
    """The request-stats template of a school route (`/courses/{course_id}/grades`)."""
    path = next(p for p, s in _PATHS if s == kind.partition(":")[2])
    for group, name in _TEMPLATES.items():
        path = re.sub(rf"\(\?P<{group}>[^)]*\)", name, path)
    path = re.sub(r"\(\?P<link>[^)]*\)", params.get("link", "{link}"), path)
    if kind.startswith("school_get"):
        path += f"/{{{stream_of(kind, params).removesuffix('s')}_id}}"
    return path


def owner(world: World, stream: str, params: dict[str, str]) -> str:
    """The partition a nested list reads; 404 when its parent does not exist (or not there)."""
    records = world.records
    if stream == "course_grade_details":
        grade = records["course_grades"].get(int(params["grade"]))
        if grade is None or grade["course_id"] != int(params["course"]):
            raise ApiError(404, "not_found", "Course grade not found")
        return params["grade"]
    for group, parent, label in (
        ("course", "courses", "Course"),
        ("list", "email_lists", "Email list"),
        ("campaign", "email_campaigns", "Email campaign"),
    ):
        if group in params:
            if int(params[group]) not in records[parent]:
                raise ApiError(404, "not_found", f"{label} not found")
            return params[group]
    return "all"


class School:
    """The school half of a world: generation and the moves of the clock."""

    def __init__(self, world: World) -> None:
        """Attach to `world` (records are created by `generate` or loaded by storage)."""
        self.world = world

    # ---- generation -----------------------------------------------------------------------

    def generate(self) -> None:
        """Curriculum, teachers, staff, lists, contacts and campaigns, from their own seed."""
        world = self.world
        cfg = world.config
        rng = random.Random(f"{cfg.seed}:school")
        for course in list(world.records["courses"].values()):
            # Built over the course's first weeks: each record has its own moment.
            created = _moment(course["created_at"])
            for index, user_id in enumerate(course["teacher_ids"]):
                moment = created + timedelta(hours=index)
                self._add(
                    "course_teachers", school_data.new_teacher, rng, course["id"], user_id, moment
                )
            for position in range(1, rng.choice([1, 2, 2, 3]) + 1):
                moment = created + timedelta(days=position)
                grade = self._add_grade(course["id"], position, rng, moment)
                for lesson in range(1, rng.randint(2, 8) + 1):
                    self._add_lesson(rng, grade, lesson, moment + timedelta(hours=lesson))
        buyers = world.platform.buyers
        for user_id in sorted(rng.sample(buyers, min(STAFF, len(buyers)))):
            created = EPOCH - timedelta(days=rng.randint(30, 600))
            self._add("teams", school_data.new_staff, rng, user_id, created)
        for _ in range(EMAIL_LISTS):
            list_id = world.take_id("email_lists")
            created = EPOCH - timedelta(days=400 - list_id * 30)
            world.insert("email_lists", school_data.new_email_list(list_id, created), "all")
            for _ in range(rng.randint(8, 30)):
                offset = timedelta(days=rng.uniform(0, 30 * (12 - list_id)))
                self._subscribe(rng, list_id, created + offset)
        sales = self._paid_sales()
        for index in range(cfg.campaigns):
            created = EPOCH - timedelta(days=60) + timedelta(days=60 * index / cfg.campaigns)
            scheduled = created + timedelta(hours=rng.randint(6, 72))
            # A campaign promotes what sells: the courses and plans bought in its week.
            week = [(c, p) for at, c, p in sales if scheduled <= at < scheduled + timedelta(days=7)]
            promoted = {
                "course_id": sorted({c for c, _ in week if c}),
                "plan_id": sorted({p for _, p in week if p}),
            }
            draft = index % 7 == 6  # noqa: PLR2004
            self._new_campaign(rng, created, None if draft else scheduled, promoted)
        self.send_due(lambda _kind: None, rng)

    def _add(
        self, stream: str, make: Callable[..., Record], rng: random.Random, *args: object
    ) -> Record:
        record = make(rng, self.world.take_id(stream), *args)
        self.world.insert(stream, record, self.world.owner(stream, record))
        return record

    def _add_grade(
        self, course_id: int, position: int, rng: random.Random, created: datetime
    ) -> Record:
        grade_id = self.world.take_id("course_grades")
        days = 0 if position == 1 else rng.choice([0, 7, 14, 30])
        record = school_data.new_grade(grade_id, course_id, position, days, created)
        self.world.insert("course_grades", record, str(course_id))
        return record

    def _add_lesson(
        self, rng: random.Random, grade: Record, position: int, created: datetime
    ) -> None:
        self._add("course_grade_details", school_data.new_lesson, rng, grade, position, created)

    def _subscribe(self, rng: random.Random, list_id: int, created: datetime) -> None:
        buyers = self.world.platform.buyers
        user = None
        if rng.random() < 0.6:  # noqa: PLR2004 - most contacts are platform users
            user = self.world.records["users"][rng.choice(buyers)]
        self._add("emails", school_data.new_contact, rng, list_id, user, created)
        self._count_contacts(list_id, created)

    def _count_contacts(self, list_id: int, moment: datetime) -> None:
        record = self.world.records["email_lists"][list_id]
        record["contacts_count"] = len(self.world.ids("emails", str(list_id)))
        record["updated_at"] = max(record["updated_at"], ts(moment))
        self.world.touch("email_lists", list_id)

    def _paid_sales(self) -> list[tuple[datetime, int | None, int | None]]:
        """(paid_at, course_id, plan_id) of the enrollments bought by a paid payment."""
        payments = self.world.records["payments"]
        return [
            (_moment(payments[e["payment_id"]]["paid_at"]), e["course_id"], e["plan_id"])
            for e in self.world.records["enrollments"].values()
            if e["payment_id"] in payments and payments[e["payment_id"]]["status"] == "paid"
        ]

    def _new_campaign(
        self,
        rng: random.Random,
        created: datetime,
        scheduled: datetime | None,
        promoted: dict[str, list[int]] | None = None,
    ) -> None:
        campaign = self._add("email_campaigns", school_data.new_campaign, rng, created, scheduled)
        records = self.world.records
        pools = {
            "course_id": sorted(records["courses"]),
            "plan_id": sorted(records["plans"]),
            "email_list_id": sorted(records["email_lists"]),
        }
        for stream, field in CAMPAIGN_LINKS.items():
            wanted = rng.choice([0, 1, 1, 2]) if "excluded" not in stream else rng.choice([0, 0, 1])
            if stream == "email_campaign_lists":
                wanted = max(1, wanted)  # a campaign is sent to at least one list
            pool = pools[field]
            if "excluded" not in stream and promoted and promoted.get(field):
                pool = promoted[field]
            targets = sorted(rng.sample(pool, min(wanted, len(pool))))
            for index, target in enumerate(targets):
                record_id = self.world.take_id(stream)
                moment = min(created + timedelta(minutes=index), self.world.now)
                record = school_data.new_campaign_link(
                    record_id, stream, campaign["id"], target, moment
                )
                self.world.insert(stream, record, str(campaign["id"]))

    # ---- the clock ------------------------------------------------------------------------

    def step(self, step: int, hours: float, bump: Callable[[str], None]) -> None:
        """One clock step of school moves (its own seeded draws); each changes `updated_at`."""
        rng = random.Random(f"{self.world.config.seed}:school:{step}")
        for kind, move in (
            ("lesson_added", self._lesson_added),
            ("lesson_reordered", self._lesson_reordered),
            ("lesson_removed", self._lesson_removed),
            ("module_added", self._module_added),
            ("teacher_added", self._teacher_added),
            ("teacher_removed", self._teacher_removed),
            ("staff_permission", self._staff_permission),
            ("contact_subscribed", self._contact_subscribed),
            ("contact_unsubscribed", self._contact_unsubscribed),
            ("contact_removed", self._contact_removed),
            ("campaign_scheduled", self._campaign_scheduled),
            ("campaign_target_removed", self._campaign_target_removed),
        ):
            for _ in range(events(rng, RATES[kind] * hours)):
                if move(rng):
                    bump(kind)
        self.send_due(bump, rng)
        self._engagement(rng, hours, bump)

    def _random(self, rng: random.Random, stream: str) -> Record | None:
        records = self.world.records[stream]
        if not records:
            return None
        return records[rng.choice(list(records))]

    def _lesson_added(self, rng: random.Random) -> bool:
        grade = self._random(rng, "course_grades")
        if grade is None:
            return False
        position = len(self.world.ids("course_grade_details", str(grade["id"]))) + 1
        self._add_lesson(rng, grade, position, self.world.now)
        return True

    def _lesson_reordered(self, rng: random.Random) -> bool:
        grade = self._random(rng, "course_grades")
        ids = self.world.ids("course_grade_details", str(grade["id"])) if grade else []
        if len(ids) < 2:  # noqa: PLR2004
            return False
        first, second = (self.world.records["course_grade_details"][i] for i in rng.sample(ids, 2))
        first["position"], second["position"] = second["position"], first["position"]
        self.world.stamp("course_grade_details", first)
        self.world.stamp("course_grade_details", second)
        return True

    def _lesson_removed(self, rng: random.Random) -> bool:
        lesson = self._random(rng, "course_grade_details")
        if lesson is None:
            return False
        siblings = self.world.ids("course_grade_details", str(lesson["grade_id"]))
        if len(siblings) < 2:  # noqa: PLR2004 - a module keeps one lesson
            return False
        self.world.delete("course_grade_details", lesson["id"])
        return True

    def _module_added(self, rng: random.Random) -> bool:
        course = self._random(rng, "courses")
        if course is None:
            return False
        position = len(self.world.ids("course_grades", str(course["id"]))) + 1
        grade = self._add_grade(course["id"], position, rng, self.world.now)
        self._add_lesson(rng, grade, 1, self.world.now)
        return True

    def _teacher_added(self, rng: random.Random) -> bool:
        course = self._random(rng, "courses")
        user_id = rng.choice(self.world.platform.buyers)
        if course is None or user_id in course["teacher_ids"]:
            return False
        self._add(
            "course_teachers", school_data.new_teacher, rng, course["id"], user_id, self.world.now
        )
        course["teacher_ids"] = sorted([*course["teacher_ids"], user_id])
        self.world.stamp("courses", course)
        return True

    def _teacher_removed(self, rng: random.Random) -> bool:
        teacher = self._random(rng, "course_teachers")
        if teacher is None:
            return False
        course = self.world.records["courses"][teacher["course_id"]]
        if len(course["teacher_ids"]) < 2:  # noqa: PLR2004 - a course keeps one teacher
            return False
        self.world.delete("course_teachers", teacher["id"])
        course["teacher_ids"] = [i for i in course["teacher_ids"] if i != teacher["user_id"]]
        self.world.stamp("courses", course)
        return True

    def _staff_permission(self, rng: random.Random) -> bool:
        staff = self._random(rng, "teams")
        if staff is None:
            return False
        flag = rng.choice(school_data.STAFF_FLAGS)
        staff[flag] = not staff[flag]
        self.world.stamp("teams", staff)
        return True

    def _contact_subscribed(self, rng: random.Random) -> bool:
        email_list = self._random(rng, "email_lists")
        if email_list is None:
            return False
        self._subscribe(rng, email_list["id"], self.world.now)
        return True

    def _contact_unsubscribed(self, rng: random.Random) -> bool:
        contact = self._random(rng, "emails")
        if contact is None or contact["unsubscribed_at"] is not None:
            return False
        contact["unsubscribed_at"] = ts(self.world.now)
        self.world.stamp("emails", contact)
        return True

    def _contact_removed(self, rng: random.Random) -> bool:
        contact = self._random(rng, "emails")
        if contact is None:
            return False
        self.world.delete("emails", contact["id"])
        self._count_contacts(contact["email_list_id"], self.world.now)
        return True

    def _campaign_scheduled(self, rng: random.Random) -> bool:
        now = self.world.now
        self._new_campaign(rng, now, now + timedelta(hours=rng.randint(2, 48)))
        return True

    def _campaign_target_removed(self, rng: random.Random) -> bool:
        stream = rng.choice(list(CAMPAIGN_LINKS))
        link = self._random(rng, stream)
        if link is None:
            return False
        campaign = self.world.records["email_campaigns"][link["email_campaign_id"]]
        if campaign["status"] not in {"draft", "scheduled"}:
            return False  # what was sent stays as it was sent
        self.world.delete(stream, link["id"])
        return True

    def send_due(self, bump: Callable[[str], None], rng: random.Random) -> None:
        """Send every scheduled campaign whose moment has come, to its lists' contacts."""
        now = ts(self.world.now)
        for campaign in list(self.world.records["email_campaigns"].values()):
            if campaign["status"] == "scheduled" and campaign["scheduled_at"] <= now:
                campaign["status"] = "sent"
                campaign["sent_at"] = campaign["scheduled_at"]
                campaign["recipients"] = self._recipients(campaign["id"], campaign["sent_at"])
                campaign["opens"] = rng.randint(0, campaign["recipients"] // 4)
                campaign["clicks"] = rng.randint(0, campaign["opens"] // 3)
                campaign["updated_at"] = max(campaign["sent_at"], campaign["updated_at"])
                self.world.touch("email_campaigns", campaign["id"])
                bump("campaign_sent")

    def _recipients(self, campaign_id: int, at: str) -> int:
        """Subscribed addresses of the targeted lists, less those of the excluded lists."""
        world, owner = self.world, str(campaign_id)
        emails = world.records["emails"]

        def addresses(stream: str) -> set[str]:
            lists = [world.records[stream][i]["email_list_id"] for i in world.ids(stream, owner)]
            return {
                emails[i]["email"]
                for list_id in lists
                for i in world.ids("emails", str(list_id))
                if emails[i]["created_at"] <= at and emails[i]["unsubscribed_at"] is None
            }

        return len(addresses("email_campaign_lists") - addresses("email_campaign_excluded_lists"))

    def _engagement(self, rng: random.Random, hours: float, bump: Callable[[str], None]) -> None:
        """Opens and clicks of recently sent campaigns rise."""
        since = ts(self.world.now - timedelta(days=ENGAGEMENT_DAYS))
        for campaign in self.world.records["email_campaigns"].values():
            if campaign["status"] != "sent" or campaign["sent_at"] < since:
                continue
            opens = min(campaign["recipients"], campaign["opens"] + events(rng, hours * 0.5))
            clicks = min(opens, campaign["clicks"] + events(rng, hours * 0.15))
            if (opens, clicks) != (campaign["opens"], campaign["clicks"]):
                campaign["opens"], campaign["clicks"] = opens, clicks
                self.world.stamp("email_campaigns", campaign)
                bump("campaign_engagement")


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)
