"""Every "chosen" path and parameter name of the MindzPay API contract, in one place.

The public Mindz documentation names the operations but not their URLs, envelope or token
endpoint; the values below are our reconstruction (see ``docs/api-notes.md``). Re-pointing the
tap at the real v2 reference should only need edits in this module and in ``http/auth.py``.
"""

from __future__ import annotations

from typing import Final

#: Appended to ``api_url`` when ``token_url`` is not set.
TOKEN_PATH: Final = "/oauth/token"  # noqa: S105 - a path, not a secret

#: Resource paths, relative to ``api_url``; ``{placeholders}`` come from the parent context.
ACCOUNTS_PATH: Final = "/mindzpay/accounts"
INVOICES_PATH: Final = "/mindzpay/accounts/{account_key}/invoices"
PAYMENTS_PATH: Final = "/mindzpay/accounts/{account_key}/payments"
SUBSCRIPTIONS_PATH: Final = "/mindzpay/accounts/{account_id}/subscriptions"
#: The Mindz platform resources MindzPay records point to: platform-wide, no account in the path.
USERS_PATH: Final = "/users"
COURSES_PATH: Final = "/courses"
BUNDLES_PATH: Final = "/bundles"
PLANS_PATH: Final = "/plans"
ENROLLMENTS_PATH: Final = "/enrollments"
#: The rest of the platform: curriculum, staff and e-mail marketing; nested lists per parent.
COURSE_GRADES_PATH: Final = "/courses/{course_id}/grades"
COURSE_GRADE_DETAILS_PATH: Final = "/courses/{course_id}/grades/{grade_id}/details"
COURSE_TEACHERS_PATH: Final = "/courses/{course_id}/teachers"
TEAMS_PATH: Final = "/teams"
EMAIL_LISTS_PATH: Final = "/email-lists"
EMAILS_PATH: Final = "/email-lists/{email_list_id}/emails"
EMAIL_CAMPAIGNS_PATH: Final = "/email-campaigns"
EMAIL_CAMPAIGN_COURSES_PATH: Final = "/email-campaigns/{email_campaign_id}/courses"
EMAIL_CAMPAIGN_PLANS_PATH: Final = "/email-campaigns/{email_campaign_id}/plans"
EMAIL_CAMPAIGN_LISTS_PATH: Final = "/email-campaigns/{email_campaign_id}/lists"
EMAIL_CAMPAIGN_EXCLUDED_COURSES_PATH: Final = (
    "/email-campaigns/{email_campaign_id}/excluded-courses"
)
EMAIL_CAMPAIGN_EXCLUDED_PLANS_PATH: Final = "/email-campaigns/{email_campaign_id}/excluded-plans"
EMAIL_CAMPAIGN_EXCLUDED_LISTS_PATH: Final = "/email-campaigns/{email_campaign_id}/excluded-lists"
#: Relative to a list path: fetch one record, and bring an invoice up to date.
GET_ONE_SUFFIX: Final = "/{id}"
INVOICE_REFRESH_SUFFIX: Final = "/{id}/refresh"

#: List query parameters.
PARAM_LIMIT: Final = "limit"
PARAM_OFFSET: Final = "offset"
PARAM_SORT_BY: Final = "sort_by"
PARAM_SORT_DIRECTION: Final = "sort_direction"
SORT_ASCENDING: Final = "asc"
SORT_DESCENDING: Final = "desc"
#: The platform lists' sort by last change (the MindzPay lists have none).
SORT_UPDATED_AT: Final = "updated_at"
MAX_PAGE_SIZE: Final = 100

#: List envelope: ``{"data": [...], "meta": {"total": N, "limit": L, "offset": O}}``.
ENVELOPE_DATA: Final = "data"
ENVELOPE_META: Final = "meta"
META_TOTAL: Final = "total"
META_LIMIT: Final = "limit"

#: Error envelope: ``{"error": {"code": "...", "message": "..."}}``.
ERROR_KEY: Final = "error"
ERROR_CODE: Final = "code"
ERROR_MESSAGE: Final = "message"

#: Rate-limit headers (per access token) and the 429 back-off header.
HEADER_LIMIT: Final = "X-RateLimit-Limit"
HEADER_REMAINING: Final = "X-RateLimit-Remaining"
HEADER_RESET: Final = "X-RateLimit-Reset"
HEADER_RETRY_AFTER: Final = "Retry-After"

#: OAuth2 token endpoint (RFC 6749, form-encoded).
GRANT_CLIENT_CREDENTIALS: Final = "client_credentials"
GRANT_REFRESH_TOKEN: Final = "refresh_token"  # noqa: S105 - a grant type name, not a secret

#: Demo credentials the sandbox accepts (also documented in the README).
SANDBOX_CLIENT_ID: Final = "mindzpay-demo"
SANDBOX_CLIENT_SECRET: Final = "mindzpay-demo-secret"  # noqa: S105 - public demo value
#: Path of the API below the sandbox's root URL.
SANDBOX_API_PATH: Final = "/api/v2"

#: pt-BR labels of the invoice status codes (contract table).
INVOICE_STATUS_LABELS: Final[dict[int, str]] = {
    0: "Pendente",
    1: "Em processo de emissão",
    2: "Emitida",
    3: "Falha ao emitir",
    4: "Em processo de cancelamento",
    5: "Cancelada",
    6: "Falha ao cancelar",
    7: "Não emitir",
    8: "Enviado por email",
    9: "Não emitida",
}
