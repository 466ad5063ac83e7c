"""settle_environment: what requests would read from the environment per request, read once."""

from __future__ import annotations

import pytest
import requests

from tap_mindzpay.services import settle_environment

API = "https://api.mindzpay.example/api/v2"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)


def test_the_proxy_and_ca_bundle_of_the_environment_are_set_on_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp/ca.pem")
    session = requests.Session()
    settle_environment(session, API)
    assert session.trust_env is False
    assert session.proxies["https"] == "http://proxy.corp:3128"
    assert session.verify == "/etc/corp/ca.pem"
    # What requests itself would send through for this URL with trust_env on.
    merged = requests.Session().merge_environment_settings(API, {}, None, None, None)
    assert merged["proxies"]["https"] == session.proxies["https"]
    assert merged["verify"] == session.verify


def test_no_proxy_for_the_host_leaves_the_session_without_a_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", ".mindzpay.example")
    session = requests.Session()
    settle_environment(session, API)
    assert session.proxies == {}
    assert session.verify is True


def test_curl_ca_bundle_counts_when_requests_ca_bundle_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/curl.pem")
    session = requests.Session()
    settle_environment(session, API)
    assert session.verify == "/etc/ssl/curl.pem"
