"""MindzPayAuthenticator: grant bodies, early refresh, rotation, invalidation, no secret leaks."""

from __future__ import annotations

import json
import threading
from typing import Any
from unittest.mock import patch
from urllib.parse import parse_qs

import pytest
import requests
from singer_sdk.exceptions import FatalAPIError

from tap_mindzpay.http.auth import (
    AuthenticationError,
    MindzPayAuthenticator,
    grant_body,
    refresh_margin,
)
from tap_mindzpay.settings import DEFAULT_REQUEST_TIMEOUT

SECRET = "s3cr3t-api-key"  # noqa: S105 - a fake secret the tests hunt for
REFRESH = "refresh-token-1"


class FakeTokenEndpoint(requests.Session):
    """A requests.Session whose POST answers like the MindzPay token endpoint."""

    def __init__(self, answers: list[tuple[int, dict[str, Any]]] | None = None) -> None:
        super().__init__()
        self.bodies: list[dict[str, str]] = []
        self.answers = answers or []
        self.issued = 0

    def post(self, url: str, data: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        assert isinstance(data, dict), "the grant must be form-encoded (a dict for requests)"
        assert kwargs.get("allow_redirects") is False, "a redirect would re-send the secret"
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
        timeout=DEFAULT_REQUEST_TIMEOUT,
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
    clock.now = 95  # inside the 10 s margin of a 100 s token
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


def test_spent_refresh_token_stops_with_one_line_naming_the_setting():
    session = FakeTokenEndpoint(
        [(400, {"error": "invalid_grant", "error_description": f"{REFRESH} was rotated"})]
    )
    auth = make(session, refresh_token=REFRESH)
    with pytest.raises(AuthenticationError) as caught:
        auth.access_token()
    text = str(caught.value)
    assert "\n" not in text
    assert "refused the refresh token" in text
    assert "setting refresh_token" in text
    assert REFRESH not in text
    assert SECRET not in text
    # No silent switch to another grant (and identity).
    assert [b["grant_type"] for b in session.bodies] == ["refresh_token"]


def test_refused_refresh_token_after_an_unanswered_attempt_falls_back_to_client_credentials():
    # The first answer is lost (a 502 here; a reset in the sandbox's refresh_race): the API may
    # have rotated the token, so its refusal of the old one is this run's own doing.
    session = FakeTokenEndpoint(
        [
            (502, {}),
            (400, {"error": "invalid_grant", "error_description": "Refresh token not valid"}),
        ]
    )
    auth = make(session, refresh_token=REFRESH)
    with patch("tap_mindzpay.http.auth.time.sleep"):
        assert auth.access_token() == "token-1"
    assert [b["grant_type"] for b in session.bodies] == [
        "refresh_token",
        "refresh_token",
        "client_credentials",
    ]


@pytest.mark.parametrize(
    ("lifetime", "margin"),
    [(5, 0.5), (20, 2.0), (3600, 60.0)],
)
def test_refresh_margin_is_a_tenth_of_a_short_lifetime_and_at_most_60_s(lifetime, margin):
    assert refresh_margin(lifetime) == pytest.approx(margin)
    session = FakeTokenEndpoint([(200, {"access_token": "a1", "expires_in": lifetime})])
    clock = Clock()
    auth = make(session, clock)
    assert auth.access_token() == "a1"
    clock.now = lifetime - margin - 0.01  # just outside the margin: the same token
    assert auth.access_token() == "a1"
    assert len(session.bodies) == 1
    clock.now = lifetime - margin + 0.01  # inside it: a new one, before the old one expires
    assert auth.access_token() == "token-2"
    assert len(session.bodies) == 2


@pytest.mark.parametrize(("lifetime", "tokens"), [(5, 12), (20, 12), (3600, 11)])
def test_one_token_request_per_lifetime_never_one_per_call(lifetime, tokens):
    session = FakeTokenEndpoint(
        [(200, {"access_token": f"t{n}", "expires_in": lifetime}) for n in range(100)]
    )
    clock = Clock()
    auth = make(session, clock)
    for step in range(1000):  # a call every 1% of the lifetime, over ten lifetimes
        clock.now = step * lifetime / 100
        auth.access_token()
    # A 5 s or 20 s token is used for 90% of its life (new ones at steps 0, 90, ..., 990), a
    # 3,600 s one until 60 s before its end (steps 0, 99, ..., 990).
    assert len(session.bodies) == tokens


@pytest.mark.parametrize("expires_in", [0, -5, "soon", None])
def test_unusable_expires_in_counts_as_an_hour(expires_in):
    session = FakeTokenEndpoint([(200, {"access_token": "a1", "expires_in": expires_in})])
    clock = Clock()
    auth = make(session, clock)
    auth.access_token()
    clock.now = 3000
    assert auth.access_token() == "a1"
    assert len(session.bodies) == 1


def test_refresh_token_file_keeps_the_rotated_token_for_the_next_run(tmp_path):
    path = tmp_path / "refresh-token"
    session = FakeTokenEndpoint(
        [(200, {"access_token": "a1", "expires_in": 100, "refresh_token": "refresh-token-2"})]
    )
    make(session, refresh_token=REFRESH, refresh_token_file=path).access_token()
    assert session.bodies[0]["refresh_token"] == REFRESH  # seeded from the setting
    assert path.read_text(encoding="utf-8") == "refresh-token-2\n"
    assert path.stat().st_mode & 0o777 == 0o600
    # No temporary left; the lock file stays (removing it would let two shards lock two files).
    assert sorted(p.name for p in tmp_path.iterdir()) == [".refresh-token.lock", "refresh-token"]
    # The next run: the file wins over the (now spent) setting.
    second = FakeTokenEndpoint()
    make(second, refresh_token=REFRESH, refresh_token_file=path).access_token()
    assert second.bodies[0]["refresh_token"] == "refresh-token-2"  # noqa: S105 - fake


def test_refused_refresh_token_from_the_file_names_the_file_setting(tmp_path):
    path = tmp_path / "refresh-token"
    path.write_text("spent-token\n", encoding="utf-8")
    session = FakeTokenEndpoint([(400, {"error": "invalid_grant"})])
    with pytest.raises(AuthenticationError, match="setting refresh_token_file") as caught:
        make(session, refresh_token_file=path).access_token()
    assert "spent-token" not in str(caught.value)


def test_refresh_token_file_without_a_token_is_a_one_line_error(tmp_path):
    with pytest.raises(FatalAPIError, match="holds no refresh token"):
        make(FakeTokenEndpoint(), refresh_token_file=tmp_path / "missing")
    with pytest.raises(FatalAPIError, match="does not exist"):
        make(FakeTokenEndpoint(), refresh_token=REFRESH, refresh_token_file=tmp_path / "a" / "b")


def test_authenticate_request_sets_the_bearer_header():
    auth = make(FakeTokenEndpoint())
    request = requests.Request("GET", "https://x.test/a").prepare()
    assert auth(request).headers["Authorization"] == "Bearer token-1"


def test_redact_hides_every_secret_seen():
    auth = make(FakeTokenEndpoint(), refresh_token=REFRESH)
    token = auth.access_token()
    text = auth.redact(f"{SECRET} {REFRESH} {token} fine")
    assert text == "*** *** *** fine"


def test_a_grant_spends_the_token_another_shard_wrote_to_the_file_since(tmp_path):
    path = tmp_path / "refresh-token"
    path.write_text(REFRESH + "\n", encoding="utf-8")
    session = FakeTokenEndpoint(
        [
            (200, {"access_token": "a1", "expires_in": 100, "refresh_token": "mine-2"}),
            (200, {"access_token": "a2", "expires_in": 100, "refresh_token": "mine-4"}),
        ]
    )
    clock = Clock()
    auth = make(session, clock, refresh_token_file=path)
    auth.access_token()
    path.write_text("theirs-3\n", encoding="utf-8")  # another shard granted with mine-2
    clock.now = 1000
    auth.access_token()
    assert [b["refresh_token"] for b in session.bodies] == [REFRESH, "theirs-3"]
    assert path.read_text(encoding="utf-8") == "mine-4\n"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_of_the_token_call_is_refused_in_one_line_without_following(status):
    session = FakeTokenEndpoint([(status, {})])
    with pytest.raises(FatalAPIError) as caught:
        make(session).access_token()
    assert f"answered HTTP {status} (a redirect), which the tap does not follow" in str(
        caught.value
    )
    assert len(session.bodies) == 1


def test_an_access_token_with_a_line_break_is_refused_without_quoting_it():
    token = "abc123\r\nX-Injected: yes"  # noqa: S105 - a fake token
    session = FakeTokenEndpoint([(200, {"access_token": token, "expires_in": 100})])
    auth = make(session)
    with pytest.raises(FatalAPIError, match="line break or NUL") as caught:
        auth.access_token()
    assert "abc123" not in str(caught.value)
    # Printed as http.client prints a refused header, the token is still redacted.
    assert "abc123" not in auth.redact(f"Invalid header value {('Bearer ' + token).encode()!r}")


def test_a_signal_during_a_grant_acts_once_the_rotated_token_is_saved(tmp_path):
    path = tmp_path / "refresh-token"
    path.write_text(REFRESH + "\n", encoding="utf-8")
    events: list[str] = []

    class Deferring:
        def __enter__(self) -> None:
            events.append("hold")

        def __exit__(self, *exc: object) -> None:
            events.append(f"release, file holds {path.read_text(encoding='utf-8').strip()}")

    session = FakeTokenEndpoint(
        [(200, {"access_token": "a1", "expires_in": 100, "refresh_token": "refresh-token-2"})]
    )
    make(session, refresh_token_file=path, uninterrupted=Deferring).access_token()
    assert events == ["hold", "release, file holds refresh-token-2"]


def test_personal_data_and_secrets_in_an_error_body_are_redacted():
    auth = make(FakeTokenEndpoint())
    text = auth.redact(
        f"422: cpf 123.456.789-09 or 12345678909, cnpj 12.345.678/0001-95, "
        f"maria.silva+x@escola.com.br, key {SECRET}, invoice 4821"
    )
    assert text == "422: cpf *** or ***, cnpj ***, ***, key ***, invoice 4821"
