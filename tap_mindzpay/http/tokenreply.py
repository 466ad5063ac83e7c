"""What an answer of the token endpoint means: the token body, or one line saying what to fix.

Split from ``auth`` so that the authenticator keeps to getting and keeping tokens. Every quoted
part of an answer passes the caller's ``redact`` (secrets, personal data).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import FatalAPIError

if TYPE_CHECKING:
    from collections.abc import Callable

    import requests

#: Statuses of the token endpoint that mean "these credentials are refused" (RFC 6749 5.2).
CREDENTIAL_REJECTED = frozenset({400, 401, 403})
HTTP_REDIRECT = range(300, 400)
#: Characters no token may hold: a header carrying them is refused, and its text echoed.
NOT_IN_A_TOKEN = frozenset("\r\n\0")


class AuthenticationError(FatalAPIError):
    """The token endpoint rejected the credentials; the message names the setting to check."""


def require_one_line(token: str, *, token_url: str, what: str) -> None:
    """Refuse a token holding CR, LF or NUL: no header or one-line file can carry it.

    Raises:
        FatalAPIError: Naming ``what`` the token endpoint answered, never the token itself.
    """
    if not NOT_IN_A_TOKEN.isdisjoint(token):
        msg = (
            f"MindzPay token endpoint {token_url} answered {what} holding a line break or NUL, "
            "which no HTTP header or token file can carry; check token_url"
        )
        raise FatalAPIError(msg)


def token_response_body(
    response: requests.Response,
    *,
    token_url: str,
    refresh_token: str | None,
    refresh_setting: str,
    redact: Callable[[str], str],
) -> dict[str, Any]:
    """The body of a token answer below 500 (and not 429), or the error that says what to do.

    Raises:
        FatalAPIError: A redirect (never followed: it would send the client secret on), or an
            answer that is not a refusal of the credentials.
        AuthenticationError: The credentials or the refresh token were refused.
        ValueError: A success whose body is not a JSON object (retried like a cut body).
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    status = response.status_code
    if status in HTTP_REDIRECT:
        msg = (
            f"MindzPay token endpoint {token_url} answered HTTP {status} (a redirect), which "
            "the tap does not follow: it would send the client secret on; set token_url to "
            "the address that answers"
        )
        raise FatalAPIError(msg)
    if response.ok and isinstance(body, dict):
        return body
    if response.ok:
        msg = "undecodable token response"
        raise ValueError(msg)
    error = description = ""
    if isinstance(body, dict):
        error = str(body.get("error", ""))
        description = str(body.get("error_description", ""))
    detail = redact(f"{error}: {description}" if description else error) or "no detail"
    if status not in CREDENTIAL_REJECTED:
        msg = (
            f"MindzPay token endpoint {token_url} answered HTTP {status} ({detail}); check "
            "the settings token_url and api_url"
        )
        raise FatalAPIError(msg)
    if refresh_token and error != "invalid_client":
        msg = (
            f"MindzPay refused the refresh token at {token_url} (HTTP {status}, {detail}): it "
            "was used already (each refresh token works once when the API rotates them) or "
            "revoked; authorise the app again and set the new token in the setting "
            f"{refresh_setting}, or unset it to use client_id and client_secret"
        )
        raise AuthenticationError(msg)
    msg = (
        f"MindzPay rejected the credentials at {token_url} (HTTP {status}, {detail}); check "
        "the settings client_id and client_secret"
    )
    raise AuthenticationError(msg)
