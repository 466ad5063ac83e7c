"""The Mindz platform resources in the sandbox world: what MindzPay records point to.

Users, courses, bundles, plans and enrollments live in the world's records (partition `"all"`:
they are platform-wide), so storage, truth and deletions treat them as any other stream. This
module generates them, keeps the links resolvable and moves them with the world clock.

Links: every invoice's and payment's `client_id` is a *buyer* (a user whose id is not a multiple
of `BROWSER_EVERY`), every subscription's `plan_id` a plan (ids 1..`PLANS`), every enrollment's
`payment_id` a payment or null, course `teacher_ids` buyers, bundle and plan `course_ids`
courses. Buyers are never deleted: LGPD deletions pick *browsers* (users who never bought,
teach or enrolled), so no link ever points at a deleted user.
"""

from __future__ import annotations

import heapq
import random
import re
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from tap_mindzpay.sandbox import platform_data
from tap_mindzpay.sandbox.data import EPOCH, Record, events, pick, ts

if TYPE_CHECKING:
    from collections.abc import Callable

    from tap_mindzpay.sandbox.world import World

PLATFORM_STREAMS = ("users", "courses", "bundles", "plans", "enrollments")
BUNDLES, PLANS = 12, 40
BROWSER_EVERY = 5  # every fifth user id never buys: the only users an LGPD request removes
MAX_BUYERS = 25_000
MAX_ENROLLMENTS = 30_000
PAID = frozenset({"paid", "refunded", "chargeback"})
# Events per simulated hour, platform-wide.
RATES = {
    "user_signup": 2.0,
    "profile_edit": 4.0,
    "enrollment_progress": 6.0,
    "course_published": 0.3,
    "course_archived": 0.15,
    "lgpd_delete": 0.4,
}

_NAMES = "|".join(PLATFORM_STREAMS)
ROUTES = [
    ("GET", re.compile(rf"/(?P<stream>{_NAMES})"), "platform_list"),
    ("GET", re.compile(rf"/(?P<stream>{_NAMES})/(?P<id>\d+)"), "platform_get"),
]
SORTS = dict.fromkeys(PLATFORM_STREAMS, ("id", "created_at", "updated_at"))


def template(kind: str, stream: str) -> str:
    """The request-stats template of a platform route (`/users`, `/users/{user_id}`)."""
    return f"/{stream}" if kind == "platform_list" else f"/{stream}/{{{stream[:-1]}_id}}"


class Platform:
    """The platform half of a world: generation, link targets and the moves of the clock."""

    def __init__(self, world: World) -> None:
        """Attach to `world` (records are created by `generate` or loaded by storage)."""
        self.world = world
        self.buyers: list[int] = []
        self.expiries: list[tuple[str, int]] = []  # (expires_at, enrollment id) of active ones
        self.bought: dict[int, list[int]] = {}  # payment id -> the enrollments it paid for
        self.rng = random.Random(f"{world.config.seed}:platform:0")
        total = world.config.accounts * world.config.invoices_per_account
        self.share = min(0.25, MAX_ENROLLMENTS / max(1, total))

    # ---- generation -----------------------------------------------------------------------

    def generate(self) -> None:
        """Users, courses, bundles and plans, all older than the MindzPay history."""
        cfg = self.world.config
        rng = random.Random(f"{cfg.seed}:platform")
        buyers = min(MAX_BUYERS, max(40, cfg.accounts * cfg.invoices_per_account // 12))
        start = EPOCH - timedelta(days=730)
        year = 365 * 86400.0
        for offset in sorted(rng.random() * year for _ in range(buyers * 5 // 4 + 1)):
            self.add_user(rng, start + timedelta(seconds=offset))
        course_count = self.world.config.courses
        for course_id in range(1, course_count + 1):
            teachers = sorted(rng.sample(self.buyers, rng.choice([1, 1, 2])))
            # Six days apart (closer in a school of more than 100 courses: all in the past).
            created = start + timedelta(days=course_id * min(6.0, 600 / course_count))
            self._insert("courses", platform_data.new_course(rng, course_id, created, teachers))
        for bundle_id in range(1, BUNDLES + 1):
            courses = sorted(
                rng.sample(range(1, course_count + 1), min(course_count, rng.randint(2, 5)))
            )
            created = start + timedelta(days=400 + bundle_id * 20)
            self._insert("bundles", platform_data.new_bundle(rng, bundle_id, created, courses))
        for plan_id in range(1, PLANS + 1):
            courses = sorted(
                rng.sample(range(1, course_count + 1), min(course_count, rng.randint(3, 12)))
            )
            created = start + timedelta(days=360 + plan_id * 2)
            self._insert("plans", platform_data.new_plan(rng, plan_id, created, courses))
        for stream in ("courses", "bundles", "plans"):
            self.world.next_id[stream] = len(self.world.records[stream]) + 1

    def generate_enrollments(self) -> None:
        """Enrollments bought by a share of the paid payments, and a few free ones."""
        rng = random.Random(f"{self.world.config.seed}:enrollments")
        for payment in list(self.world.records["payments"].values()):
            if payment["status"] in PAID and rng.random() < self.share:
                created = datetime.fromisoformat(payment["created_at"])
                self.enroll(rng, payment["client_id"], payment, created)
                if rng.random() < 0.08:  # noqa: PLR2004 - a free or manual enrollment
                    self.enroll(rng, rng.choice(self.buyers), None, created)

    def add_user(self, rng: random.Random, created: datetime) -> None:
        """A new user; ids that are not multiples of `BROWSER_EVERY` become buyers."""
        user_id = self.world.take_id("users")
        now = max(self.world.now, created)
        self._insert("users", platform_data.new_user(rng, user_id, created, now))
        if user_id % BROWSER_EVERY:
            self.buyers.append(user_id)

    def client(self, drawn: int) -> int:
        """The buyer a drawn number names (the MindzPay generator draws one per sale)."""
        return self.buyers[drawn % len(self.buyers)]

    def enroll(
        self, rng: random.Random, user_id: int, payment: Record | None, created: datetime
    ) -> None:
        """Enroll `user_id` in a course, bundle or plan (bought by `payment`, or free)."""
        records = self.world.records
        kind = rng.choices(["course_id", "bundle_id", "plan_id"], weights=[70, 15, 15])[0]
        if kind == "course_id":
            target = rng.randint(1, self.world.config.courses)
            days = records["courses"][target]["access_days"]
        elif kind == "bundle_id":
            target, days = rng.randint(1, BUNDLES), 365
        else:
            target = rng.randint(1, PLANS)
            plan = records["plans"][target]
            days = plan["access_days"] * (plan["max_cycles"] or 12)
        record = platform_data.new_enrollment(
            rng,
            enrollment_id=self.world.take_id("enrollments"),
            user_id=user_id,
            target=(kind, target),
            access_days=days,
            payment_id=payment["id"] if payment else None,
            created=created,
            now=max(self.world.now, created),
        )
        if payment is not None and payment["status"] in {"refunded", "chargeback"}:
            record["status"] = "canceled"
            record["updated_at"] = max(record["updated_at"], payment["updated_at"])
        self._insert("enrollments", record)

    def rebuild(self) -> None:
        """Recompute buyers and pending expiries from the records (after loading a world)."""
        self.buyers = [i for i in self.world.ids("users", "all") if i % BROWSER_EVERY]
        self.expiries, self.bought = [], {}
        for record in self.world.records["enrollments"].values():
            self._track(record)

    def _insert(self, stream: str, record: Record) -> None:
        self.world.insert(stream, record, "all")
        if stream == "enrollments":
            self._track(record)

    def _track(self, record: Record) -> None:
        if record["payment_id"] is not None:
            self.bought.setdefault(record["payment_id"], []).append(record["id"])
        if record["status"] == "active" and record["expires_at"]:
            heapq.heappush(self.expiries, (record["expires_at"], record["id"]))

    # ---- the clock ------------------------------------------------------------------------

    def begin_step(self, step: int) -> None:
        """Seed this step's draws (apart from the MindzPay ones)."""
        self.rng = random.Random(f"{self.world.config.seed}:platform:{step}")

    def on_paid(self, payment: Record) -> None:
        """A payment just became paid: a share of sales enroll the buyer."""
        if self.rng.random() < self.share:
            self.enroll(self.rng, payment["client_id"], payment, self.world.now)

    def on_reversed(self, payment: Record, bump: Callable[[str], None]) -> None:
        """A payment was refunded or charged back: what it bought is canceled."""
        for enrollment_id in self.bought.get(payment["id"], []):
            record = self.world.records["enrollments"][enrollment_id]
            if record["status"] != "canceled":
                record["status"] = "canceled"
                self.world.stamp("enrollments", record)
                bump("enrollment_canceled")

    def step(self, hours: float, bump: Callable[[str], None]) -> None:
        """One clock step of platform moves; each changes `updated_at`."""
        rng, world, records = self.rng, self.world, self.world.records
        now = world.now
        for _ in range(events(rng, RATES["user_signup"] * hours)):
            self.add_user(rng, now)
            bump("user_signup")
        users = world.ids("users", "all")
        for _ in range(events(rng, RATES["profile_edit"] * hours)):
            record = records["users"][rng.choice(users)]
            platform_data.edit_user(rng, record)
            world.stamp("users", record)
            bump("profile_edit")
        enrollments = records["enrollments"]
        for _ in range(events(rng, RATES["enrollment_progress"] * hours)):
            picked = pick(rng, world.ids("enrollments", "all"), self._learning)
            if picked is not None:
                record = enrollments[picked]
                record["progress"] = min(100, record["progress"] + rng.randint(1, 25))
                if record["progress"] == 100:  # noqa: PLR2004
                    record["completed_at"] = ts(now)
                world.stamp("enrollments", record)
                bump("enrollment_progress")
        self._expire(ts(now), bump)
        self._courses(rng, hours, bump)
        for _ in range(events(rng, RATES["lgpd_delete"] * hours)):
            picked = pick(rng, users, lambda i: i % BROWSER_EVERY == 0)
            if picked is not None:
                world.delete("users", picked)
                bump("lgpd_delete")

    def _learning(self, enrollment_id: int) -> bool:
        record = self.world.records["enrollments"][enrollment_id]
        return bool(record["status"] == "active" and record["progress"] < 100)  # noqa: PLR2004

    def _expire(self, stamp: str, bump: Callable[[str], None]) -> None:
        enrollments = self.world.records["enrollments"]
        while self.expiries and self.expiries[0][0] <= stamp:
            expires_at, enrollment_id = heapq.heappop(self.expiries)
            record = enrollments.get(enrollment_id)
            if record and record["status"] == "active" and record["expires_at"] == expires_at:
                record["status"] = "expired"
                self.world.stamp("enrollments", record)
                bump("enrollment_expires")

    def _courses(self, rng: random.Random, hours: float, bump: Callable[[str], None]) -> None:
        courses = self.world.records["courses"]
        ids = self.world.ids("courses", "all")
        for kind, before, after in (
            ("course_published", "draft", "published"),
            ("course_archived", "published", "archived"),
        ):
            wanted: Callable[[int], bool] = partial(_has_status, courses, before)
            for _ in range(events(rng, RATES[kind] * hours)):
                picked = pick(rng, ids, wanted)
                if picked is not None:
                    courses[picked]["status"] = after
                    self.world.stamp("courses", courses[picked])
                    bump(kind)


def _has_status(records: dict[int, Record], status: str, record_id: int) -> bool:
    return bool(records[record_id]["status"] == status)
