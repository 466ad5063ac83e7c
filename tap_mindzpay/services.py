"""What every stream of a run shares: API base, token, rate and concurrency limits, report, stop.

The tap owns one ``RunServices`` per run and hands it to each stream it creates; nothing here
starts before it is needed. With ``sandbox: true`` the embedded sandbox starts on the first need
of the API base (sync, ``--test``; never ``--about`` or ``--discover``) and is stopped when the
command ends (``close_all``).
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import requests

from tap_mindzpay import endpoints
from tap_mindzpay.capture.schedule import Signals
from tap_mindzpay.connection import CheckResult, ConnectionCheck
from tap_mindzpay.http.auth import MindzPayAuthenticator
from tap_mindzpay.http.concurrency import AdaptiveLimit
from tap_mindzpay.http.first_contact import FirstContact
from tap_mindzpay.http.ratebudget import RateBudget
from tap_mindzpay.http.servertime import ServerClock
from tap_mindzpay.read.prefetch import PageSlots
from tap_mindzpay.run.cadence import StateCadence
from tap_mindzpay.run.launcher import EmbeddedSandbox
from tap_mindzpay.run.stopping import StopControl
from tap_mindzpay.run.summary import RunReport
from tap_mindzpay.settings import DEFAULT_ADAPTIVE_CONCURRENCY, concurrency

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

    from singer_sdk.helpers.types import Context

    from tap_mindzpay.run.progress import PartitionReport


def settle_environment(session: requests.Session, url: str) -> None:
    """Set on ``session`` once what requests reads from the environment for every request.

    With ``trust_env`` (the default) requests looks up the proxy variables, ``NO_PROXY``, the CA
    bundle variables and ``~/.netrc`` again for each request: an environment scan and a file
    lookup per request, a tenth of a fetch's interpreter time in a full sync. For one host they
    give the same answer all run, so the proxies for ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, ``NO_PROXY``) and the bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) are
    read here, as requests reads them, and ``trust_env`` is turned off. ``~/.netrc`` is not
    read: its credentials would replace the tap's bearer token.
    """
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False


def package_version() -> str:
    """The installed tap's version (``0`` when running from a source tree)."""
    try:
        return version("tap-mindzpay")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


class RunServices:
    """The parts of one run every stream uses, created on first use from the run's settings."""

    #: Sandboxes and run reports of this process's runs, closed when the command ends.
    _sandboxes: ClassVar[list[EmbeddedSandbox]] = []
    _reports: ClassVar[list[RunReport]] = []
    #: What the runs opened that ends with them (the top-level lists' first pages).
    _closing: ClassVar[list[Callable[[], None]]] = []

    def __init__(self, config: Mapping[str, Any], logger: logging.Logger) -> None:
        """Keep the run's (validated) settings; nothing is started here."""
        self.config = config
        self.stop = StopControl(logger)
        #: The API's clock (``Date`` headers), when STATE is worth writing, and what the
        #: payments of an account tell its invoices in this run.
        self.server_clock = ServerClock()
        self.state_cadence = StateCadence()
        self.signals = Signals()
        self._sandbox_lock = threading.Lock()
        self._logger = logger
        self._child_page_slots: PageSlots | None = None
        #: Fetches the first page of every top-level list after the one named (already read)
        #: and says how to close what it opened (``client.first_pages_of``; the tap sets it).
        #: Once, when the run's first list page came: a failing credential or API is met by one
        #: request, not by one per list.
        self.top_level_plan: Callable[[str], Callable[[], None] | None] | None = None
        #: Whether a sync of every stream runs (``listed`` plans only then).
        self.syncing = False
        #: Requests in flight at once across every stream and thread, learnt from the answers.
        self.concurrency = AdaptiveLimit(
            concurrency(config),
            adaptive=bool(config.get("adaptive_concurrency", DEFAULT_ADAPTIVE_CONCURRENCY)),
        )
        #: Lines about the run's input (what it leaves out), logged once when the sync starts.
        self.notes: list[str] = []

    def listed(self, stream: str) -> None:
        """Top-level ``stream`` handed out its first list page, its own child lists planned.

        The run's first plans every later top-level list's first page (``top_level_plan``),
        behind the child lists already asked for: slots go in the order asked.
        """
        if not self.syncing:
            return
        plan, self.top_level_plan = self.top_level_plan, None
        if plan is not None and (close := plan(stream)) is not None:
            self._closing.append(close)

    @classmethod
    def close_all(cls, error: BaseException | None = None) -> None:
        """Log the summary of every run of this process (why it stopped), stop its sandboxes."""
        try:
            while cls._closing:  # first: what they count goes into the summary
                cls._closing.pop()()
            while cls._reports:
                cls._reports.pop(0).log_summary(error)
        finally:
            while cls._sandboxes:
                cls._sandboxes.pop().stop()

    @classmethod
    def nothing_read(cls) -> str | None:
        """Why a run of this process read nothing (every stream it synced refused), if so."""
        return next((why for report in cls._reports if (why := report.nothing_read())), None)

    @cached_property
    def user_agent(self) -> str:
        """The ``User-Agent`` of every request (setting ``user_agent``)."""
        return str(self.config.get("user_agent") or f"tap-mindzpay/{package_version()}")

    @property
    def demo(self) -> bool:
        """Whether the run uses the embedded sandbox (and its demo credentials)."""
        return bool(self.config.get("sandbox"))

    @property
    def client_id(self) -> str:
        """APP_ID (the sandbox's demo one when unset with ``sandbox: true``)."""
        return self.config.get("client_id") or (endpoints.SANDBOX_CLIENT_ID if self.demo else "")

    @property
    def client_secret(self) -> str:
        """API_KEY (the sandbox's demo one when unset with ``sandbox: true``)."""
        demo_secret = endpoints.SANDBOX_CLIENT_SECRET if self.demo else ""
        return self.config.get("client_secret") or demo_secret

    @cached_property
    def first_contact(self) -> FirstContact:
        """The hosts that answered during this run (a first refusal stops it at once)."""
        configured = "api_url and token_url" if self.config.get("token_url") else "api_url"
        if self.demo:
            configured = "sandbox (the embedded sandbox did not answer)"
        return FirstContact(settings=configured)

    @cached_property
    def embedded_sandbox(self) -> EmbeddedSandbox | None:
        """The embedded sandbox when ``sandbox: true`` (not started until needed)."""
        if not self.demo:
            return None
        sandbox = EmbeddedSandbox(db=self.config.get("sandbox_db"))
        self._sandboxes.append(sandbox)
        return sandbox

    @property
    def api_base(self) -> str:
        """The API base URL; starts the embedded sandbox on first use when configured."""
        sandbox = self.embedded_sandbox
        if sandbox is None:
            return str(self.config["api_url"]).rstrip("/")
        with self._sandbox_lock:
            return sandbox.start() + endpoints.SANDBOX_API_PATH

    @cached_property
    def authenticator(self) -> MindzPayAuthenticator:
        """The one authenticator of the run (one token for every stream and thread)."""
        config = self.config
        token_file = config.get("refresh_token_file")
        return MindzPayAuthenticator(
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            refresh_token=config.get("refresh_token"),
            refresh_token_file=Path(token_file).expanduser() if token_file else None,
            scope=config.get("scope"),
            timeout=float(config["request_timeout"]),
            user_agent=self.user_agent,
            max_attempts=int(config["max_retries"]) + 1,
            session=self.session(self.token_url, max_retries=0),
            uninterrupted=self.stop.uninterrupted,
        )

    @property
    def token_url(self) -> str:
        """The token endpoint (setting ``token_url``, else below the API base)."""
        return self.config.get("token_url") or self.api_base + endpoints.TOKEN_PATH

    def session(self, url: str | None = None, **options: Any) -> requests.Session:  # noqa: ANN401
        """A session under the run's first-contact rule (``options``: the HTTPAdapter's).

        With ``url``, the environment is read now for that URL's host (``settle_environment``);
        without, its user reads it on the first request (``requester``).
        """
        session = requests.Session()
        adapter = self.first_contact.adapter(**options)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        if url is not None:
            settle_environment(session, url)
        return session

    @cached_property
    def rate_budget(self) -> RateBudget:
        """The one rate budget of the run, shared by every stream and thread."""
        return RateBudget(sleep=self.stop.budget_sleep)

    @cached_property
    def run_report(self) -> RunReport:
        """Progress lines and the run summary (``progress``), one per run."""
        # The authenticator as created by the run, if it was (never start a sandbox for it).
        limit = self.concurrency
        report = RunReport(
            token_requests=lambda: getattr(self.__dict__.get("authenticator"), "token_requests", 0),
            concurrency=lambda: (limit.peak, limit.decreases),
        )
        self._reports.append(report)
        for note in self.notes:
            self._logger.info("%s", note)
        return report

    def check_connection(self) -> CheckResult:
        """Obtain a token and list the visible accounts (see ``connection``)."""
        auth = self.authenticator  # its settings are checked first (refresh_token_file)
        return ConnectionCheck(
            api_base=self.api_base,
            token_url=auth.token_url,
            client_id=auth.client_id,
            client_secret=self.client_secret,
            scope=self.config.get("scope"),
            account_keys=tuple(self.config.get("account_keys") or ()),
            token_url_configured=bool(self.config.get("token_url")),
            timeout=float(self.config["request_timeout"]),
            user_agent=self.user_agent,
            sandbox=self.demo,
        ).run()

    def partition_report(self, stream: str, context: Context | None) -> PartitionReport:
        """The progress and summary counters of ``stream``'s partition ``context``."""
        return self.run_report.partition(stream, context)

    def child_page_slots(self, size: int) -> PageSlots:
        """Child lists' first pages in flight at once, across every parent of the run.

        ``size`` (setting ``max_concurrency``) counts on first use. One count for the run: a
        nested parent (a course's grades) fetches its children's pages ahead while its own
        parent's are still in flight (``childpages.ChildPages``).
        """
        if self._child_page_slots is None:
            self._child_page_slots = PageSlots(size)
        return self._child_page_slots
