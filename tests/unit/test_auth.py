"""MindzPayAuthenticator: grant bodies, early refresh, rotation, invalidation, no secret leaks."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests

from tap_mindzpay.auth import AuthenticationError, MindzPayAuthenticator, grant_body

SECRET = "s3cr3t-api-key"  # noqa: S105 - a fake secret the tests hunt for
REFRESH = "refresh-token-1"


class FakeTokenEndpoint(requests.Session):
    """A requests.Session whose POST answers like the MindzPay token endpoint."""

    def __init__(self, answers: list[tuple[int, dict[str, Any]]] | None = None) -> None:
        super().__init__()
        self.bodies: list[dict[str, str]] = []
        self.answers = answers or []
        self.issued = 0

    def post(self, url: str, data: Any = None, **_kwargs: Any) -> requests.Response:  # type: ignore[override]
        assert isinstance(data, dict), "the grant must be form-encoded (a dict for requests)"
        self.bodies.append(dict(data))
        status, body = (
            self.answers.pop(0)
            if self.answers
            else (200, {"access_token": f"token-{self.issued + 1}", "expires_in": 3600})
        )
        if status == 200:
            self.issued += 1
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()  # noqa: SLF001 - a fake response
        response.url = url
        return response


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(session: FakeTokenEndpoint, clock: Clock | None = None, **kwargs: Any):
    return MindzPayAuthenticator(
        token_url="https://escola.mindz.com.br/api/v2/oauth/token",  # noqa: S106 - a URL
        client_id="app-1",
        client_secret=SECRET,
        session=session,
        clock=clock or Clock(),
        skew_seconds=60,
        **kwargs,
    )


def test_client_credentials_grant_body():
    assert grant_body(client_id="app-1", client_secret=SECRET, scope="mindzpay.read") == {
        "grant_type": "client_credentials",
        "client_id": "app-1",
        "client_secret": SECRET,
        "scope": "mindzpay.read",
    }


def test_refresh_token_grant_body():
    assert grant_body(client_id="app-1", client_secret=SECRET, refresh_token=REFRESH) == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": "app-1",
        "client_secret": SECRET,
    }


def test_form_encoding_round_trips_the_grant():
    body = grant_body(client_id="app 1", client_secret="a&b=c")  # noqa: S106 - fake
    prepared = requests.Request("POST", "https://x.test/", data=body).prepare()
    assert prepared.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert {k: v[0] for k, v in parse_qs(prepared.body).items()} == body  # type: ignore[arg-type]


def test_token_is_fetched_once_and_shared():
    session = FakeTokenEndpoint()
    auth = make(session)
    assert auth.access_token() == "token-1"
    assert auth.access_token() == "token-1"
    assert len(session.bodies) == 1
    assert session.bodies[0]["grant_type"] == "client_credentials"


def test_token_is_refreshed_before_expiry_by_the_skew_margin():
    session = FakeTokenEndpoint()
    clock = Clock()
    auth = make(session, clock)
    auth.access_token()
    clock.now = 3600 - 61  # still outside the 60 s margin
    assert auth.access_token() == "token-1"
    clock.now = 3600 - 59  # inside the margin: refresh early
    assert auth.access_token() == "token-2"


def test_rotated_refresh_token_is_kept_for_the_next_refresh():
    session = FakeTokenEndpoint(
        [
            (200, {"access_token": "a1", "expires_in": 100, "refresh_token": "refresh-token-2"}),
            (200, {"access_token": "a2", "expires_in": 100}),
        ]
    )
    clock = Clock()
    auth = make(session, clock, refresh_token=REFRESH)
    assert auth.access_token() == "a1"
    clock.now = 50
    assert auth.access_token() == "a2"
    assert [b["refresh_token"] for b in session.bodies] == [REFRESH, "refresh-token-2"]
    assert auth.refresh_token == "refresh-token-2"  # noqa: S105 - fake


def test_invalidate_drops_only_the_rejected_token():
    session = FakeTokenEndpoint()
    auth = make(session)
    old = auth.access_token()
    auth.invalidate(old)
    new = auth.access_token()
    assert new != old
    auth.invalidate(old)  # a late 401 for the old token must not drop the new one
    assert auth.access_token() == new
    assert len(session.bodies) == 2


def test_concurrent_callers_after_401_trigger_one_refresh():
    session = FakeTokenEndpoint()
    auth = make(session)
    old = auth.access_token()
    barrier = threading.Barrier(8)
    seen: list[str] = []

    def worker() -> None:
        barrier.wait()
        auth.invalidate(old)
        seen.append(auth.access_token())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(seen) == 8
    assert len(session.bodies) <= 8
    assert old not in seen


def test_rejected_client_credentials_name_the_settings_without_the_secret():
    session = FakeTokenEndpoint(
        [(401, {"error": "invalid_client", "error_description": f"bad secret {SECRET}"})]
    )
    auth = make(session)
    with pytest.raises(AuthenticationError) as caught:
        auth.access_token()
    text = str(caught.value)
    assert "client_id and client_secret" in text
    assert "invalid_client" in text
    assert SECRET not in text


def test_rejected_refresh_token_falls_back_to_client_credentials():
    session = FakeTokenEndpoint(
        [(400, {"error": "invalid_grant", "error_description": f"{REFRESH} was rotated"})]
    )
    auth = make(session, refresh_token=REFRESH)
    assert auth.access_token() == "token-1"
    assert [b["grant_type"] for b in session.bodies] == ["refresh_token", "client_credentials"]


def test_authenticate_request_sets_the_bearer_header():
    auth = make(FakeTokenEndpoint())
    request = requests.Request("GET", "https://x.test/a").prepare()
    assert auth(request).headers["Authorization"] == "Bearer token-1"


def test_redact_hides_every_secret_seen():
    auth = make(FakeTokenEndpoint(), refresh_token=REFRESH)
    token = auth.access_token()
    text = auth.redact(f"{SECRET} {REFRESH} {token} fine")
    assert text == "*** *** *** fine"
