"""What the HTTP handler hands the API, token and admin parts, and what they answer.

A `Request` is one parsed HTTP request; a `Reply` is the answer the handler writes (JSON body,
headers, an optional stall before the body) or, with `reset`, a connection dropped unanswered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    """One request: method, path below its prefix, last value of each query parameter."""

    method: str
    path: str
    query: dict[str, str]
    authorization: str | None = None
    body: bytes = b""


@dataclass
class Reply:
    """One answer; `reset` drops the connection instead of answering."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    slow: float = 0.0  # seconds between the headers and the body
    reset: bool = False

    @classmethod
    def json(cls, status: int, payload: object, headers: dict[str, str] | None = None) -> Reply:
        """A compact JSON answer."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, body, dict(headers or {}))

    @classmethod
    def error(
        cls, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> Reply:
        """The contract's error envelope: `{"error": {"code", "message"}}`."""
        return cls.json(status, {"error": {"code": code, "message": message}}, headers)

    @classmethod
    def dropped(cls) -> Reply:
        """The connection closed without an answer (counted as status 0)."""
        return cls(0, reset=True)


class ApiError(Exception):
    """An error answered with the contract's error envelope."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """Status, snake_case code and human message."""
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def reply(self, headers: dict[str, str] | None = None) -> Reply:
        """This error as an answer."""
        return Reply.error(self.status, self.code, self.message, headers)
