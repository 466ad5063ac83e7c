"""The MindzPay and Mindz platform streams: one small class each; the bases hold the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import override

from tap_mindzpay import endpoints
from tap_mindzpay.accounts import select_accounts
from tap_mindzpay.capture.derived import invoice_status_change
from tap_mindzpay.capture.rules import RefreshRule
from tap_mindzpay.capture.schedule import day_link
from tap_mindzpay.client import MindzPayStream
from tap_mindzpay.derived import DerivedStream
from tap_mindzpay.platform import PlatformStream
from tap_mindzpay.schemas import PERSONAL_DATA
from tap_mindzpay.schemas.school import CONTACT_PERSONAL_DATA

if TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context

#: Invoice statuses the fiscal provider may still change: Pendente, Em processo de emissão,
#: Em processo de cancelamento.
INVOICE_IN_FLIGHT = frozenset({0, 1, 4})
#: Invoices in flight are refreshed (the fiscal provider's answer) when their payment says so.
INVOICE_REFRESH = RefreshRule(
    in_flight=lambda r: r.get("status") in INVOICE_IN_FLIGHT,
    method="POST",
    path_suffix=endpoints.INVOICE_REFRESH_SUFFIX,
    changes_stream="invoice_status_changes",
    link=lambda r: r.get("payment_id") or 0,
    waits="invoice",
    reads_signals=True,
)
#: Pending payments are read again by id, backing off past their due date; the paid ones
#: tell their account's invoices to refresh.
PAYMENT_REFRESH = RefreshRule(
    in_flight=lambda r: r.get("status") == "pending",
    method="GET",
    path_suffix=endpoints.GET_ONE_SUFFIX,
    link=lambda r: day_link(r.get("due_date")),
    waits="payment",
    publishes="paid",
)


class AccountsStream(MindzPayStream):
    """Accounts the credential can see (full table), limited by ``account_keys``; the parent."""

    name = "accounts"
    path = endpoints.ACCOUNTS_PATH
    child_context = {"account_id": "id", "account_key": "key"}  # noqa: RUF012 - read only
    selected_by = ("account_keys", "key")

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        keys, records = self.config.get("account_keys") or (), super().get_records(context)
        return select_accounts(records, keys, self.authenticator.redact, self.logger)


class AccountChildStream(MindzPayStream):
    """A per-account list synced incrementally by id ascending, one partition per account."""

    parent_stream_type = AccountsStream
    replication_key = "id"
    is_sorted = True


class InvoicesStream(AccountChildStream):
    """Invoices (notas fiscais) of each account, by account key; status with its pt-BR label."""

    name = "invoices"
    path = endpoints.INVOICES_PATH
    capture_rule = INVOICE_REFRESH


class InvoiceStatusChangesStream(DerivedStream):
    """One record per invoice status transition the tap observed (a history table).

    Written while invoices sync (new: first listing, from_status null; refresh; sweep), so
    selecting it syncs invoices too.
    """

    name = "invoice_status_changes"
    parent_stream_type = InvoicesStream
    primary_keys = ("invoice_id", "to_status", "observed_at")
    derive = staticmethod(invoice_status_change)


class PaymentsStream(AccountChildStream):
    """Payments (boleto, card, Pix) of each account, by account key."""

    name = "payments"
    path = endpoints.PAYMENTS_PATH
    capture_rule = PAYMENT_REFRESH


class SubscriptionsStream(AccountChildStream):
    """Subscriptions of each account, by numeric account id."""

    name = "subscriptions"
    path = endpoints.SUBSCRIPTIONS_PATH


class UsersStream(PlatformStream):
    """Platform users (learners, buyers, teachers): what invoices' and payments' client_id name.

    Personal data under the LGPD (``PERSONAL_DATA``) is in the schema but emitted only when
    ``include_personal_data`` names it; a user removed on an LGPD request gets
    ``_sdc_deleted_at`` from the sweep.
    """

    name = "users"
    path = endpoints.USERS_PATH
    personal_data = PERSONAL_DATA


class CoursesStream(PlatformStream):
    """Courses of the school: price, access days, teachers (user ids); parent of their lists."""

    name = "courses"
    path = endpoints.COURSES_PATH
    child_context = {"course_id": "id"}  # noqa: RUF012 - read only


class BundlesStream(PlatformStream):
    """Bundles: courses sold together (course ids)."""

    name = "bundles"
    path = endpoints.BUNDLES_PATH


class PlansStream(PlatformStream):
    """Subscription plans of the school: what a MindzPay subscription's plan_id names."""

    name = "plans"
    path = endpoints.PLANS_PATH


class EnrollmentsStream(PlatformStream):
    """Enrollments in a course, bundle or plan; payment_id is the payment that bought it."""

    name = "enrollments"
    path = endpoints.ENROLLMENTS_PATH


class CourseGradesStream(PlatformStream):
    """A course's grades (modules), per course; parent of their lessons."""

    name = "course_grades"
    path = endpoints.COURSE_GRADES_PATH
    parent_stream_type = CoursesStream
    child_context = {"course_id": "course_id", "grade_id": "id"}  # noqa: RUF012 - read only


class CourseGradeDetailsStream(PlatformStream):
    """A grade's details (lessons: kind, position, duration), per course grade."""

    name = "course_grade_details"
    path = endpoints.COURSE_GRADE_DETAILS_PATH
    parent_stream_type = CourseGradesStream


class CourseTeachersStream(PlatformStream):
    """A course's teachers (user ids) and what each may see and do, per course."""

    name = "course_teachers"
    path = endpoints.COURSE_TEACHERS_PATH
    parent_stream_type = CoursesStream


class TeamsStream(PlatformStream):
    """The school's staff (user ids) and their permissions (finance, marketing, ...)."""

    name = "teams"
    path = endpoints.TEAMS_PATH


class EmailListsStream(PlatformStream):
    """E-mail lists; parent of their contacts."""

    name = "email_lists"
    path = endpoints.EMAIL_LISTS_PATH
    child_context = {"email_list_id": "id"}  # noqa: RUF012 - read only


class EmailsStream(PlatformStream):
    """A list's contacts, per e-mail list; address and name are personal data (LGPD)."""

    name = "emails"
    path = endpoints.EMAILS_PATH
    parent_stream_type = EmailListsStream
    personal_data = CONTACT_PERSONAL_DATA


class EmailCampaignsStream(PlatformStream):
    """E-mail campaigns: status, when sent, recipients, opens, clicks; parent of their links."""

    name = "email_campaigns"
    path = endpoints.EMAIL_CAMPAIGNS_PATH
    child_context = {"email_campaign_id": "id"}  # noqa: RUF012 - read only


class CampaignLinkStream(PlatformStream):
    """One of a campaign's six link lists (targeted or excluded courses, plans, lists)."""

    parent_stream_type = EmailCampaignsStream


class EmailCampaignCoursesStream(CampaignLinkStream):
    """Courses a campaign targets."""

    name = "email_campaign_courses"
    path = endpoints.EMAIL_CAMPAIGN_COURSES_PATH


class EmailCampaignPlansStream(CampaignLinkStream):
    """Plans a campaign targets."""

    name = "email_campaign_plans"
    path = endpoints.EMAIL_CAMPAIGN_PLANS_PATH


class EmailCampaignListsStream(CampaignLinkStream):
    """E-mail lists a campaign is sent to."""

    name = "email_campaign_lists"
    path = endpoints.EMAIL_CAMPAIGN_LISTS_PATH


class EmailCampaignExcludedCoursesStream(CampaignLinkStream):
    """Courses whose buyers a campaign leaves out."""

    name = "email_campaign_excluded_courses"
    path = endpoints.EMAIL_CAMPAIGN_EXCLUDED_COURSES_PATH


class EmailCampaignExcludedPlansStream(CampaignLinkStream):
    """Plans whose subscribers a campaign leaves out."""

    name = "email_campaign_excluded_plans"
    path = endpoints.EMAIL_CAMPAIGN_EXCLUDED_PLANS_PATH


class EmailCampaignExcludedListsStream(CampaignLinkStream):
    """E-mail lists whose contacts a campaign leaves out."""

    name = "email_campaign_excluded_lists"
    path = endpoints.EMAIL_CAMPAIGN_EXCLUDED_LISTS_PATH


#: Payments sync before invoices, account by account: an invoice waiting for its payment is
#: refreshed in the run that sees the payment paid (``capture.schedule``).
STREAM_TYPES: tuple[type[MindzPayStream], ...] = (
    AccountsStream,
    PaymentsStream,
    InvoicesStream,
    InvoiceStatusChangesStream,
    SubscriptionsStream,
    UsersStream,
    CoursesStream,
    BundlesStream,
    PlansStream,
    EnrollmentsStream,
    CourseGradesStream,
    CourseGradeDetailsStream,
    CourseTeachersStream,
    TeamsStream,
    EmailListsStream,
    EmailsStream,
    EmailCampaignsStream,
    EmailCampaignCoursesStream,
    EmailCampaignPlansStream,
    EmailCampaignListsStream,
    EmailCampaignExcludedCoursesStream,
    EmailCampaignExcludedPlansStream,
    EmailCampaignExcludedListsStream,
)
