"""Secrets never reach a log line, an exception or stdout: texts that may echo one are redacted."""

from __future__ import annotations

REDACTED = "***"


class Secrets:
    """The secrets a run has seen, and every text that may echo one passed through ``redact``."""

    def __init__(self, *secrets: str | None) -> None:
        """Start with ``secrets`` (``None`` and empty ones are ignored)."""
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Remember more secrets (a token just issued, a rotated refresh token)."""
        self._secrets.update(s for s in secrets if s)

    def redact(self, text: str) -> str:
        """``text`` with every secret seen replaced by ``***`` (longest first)."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text
