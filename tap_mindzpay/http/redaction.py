"""Secrets and personal data never reach a log line, an exception or stdout.

Texts that may echo a secret (an API error body, a token endpoint's answer, ``http.client``'s
refusal of a header) pass through ``Secrets.redact``. A secret is also looked for as Python and
HTTP libraries print it (CR and LF escaped, as in ``repr``), and the parts of a secret
split by CR/LF on their own. Personal data an API error body may quote (a CPF or CNPJ, an e-mail
address) is masked too: those messages end in logs that are not under the LGPD's care.
"""

from __future__ import annotations

import re

REDACTED = "***"
#: Parts of a secret shorter than this are not looked for alone (they would mask plain words).
MIN_PART = 6
#: A CPF (11 digits) or CNPJ (14 digits), with or without its punctuation.
DOCUMENT = re.compile(
    r"(?<!\d)(?:\d{3}\.?\d{3}\.?\d{3}-?\d{2}|\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2})(?!\d)"
)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def mask_personal(text: str) -> str:
    """``text`` with CPF/CNPJ numbers and e-mail addresses replaced by ``***``."""
    return EMAIL.sub(REDACTED, DOCUMENT.sub(REDACTED, text))


def _forms(secret: str) -> set[str]:
    """``secret`` as it may appear in a text: as is, escaped, and its CR/LF-separated parts."""
    forms = {secret, secret.encode("unicode_escape").decode("ascii")}
    forms |= {part for part in re.split(r"[\r\n]+", secret) if len(part) >= MIN_PART}
    return forms


class Secrets:
    """The secrets a run has seen, and every text that may echo one passed through ``redact``."""

    def __init__(self, *secrets: str | None) -> None:
        """Start with ``secrets`` (``None`` and empty ones are ignored)."""
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Remember more secrets (a token just issued, a rotated refresh token)."""
        for secret in secrets:
            if secret:
                self._secrets |= _forms(secret)

    def redact(self, text: str) -> str:
        """``text`` with every secret seen (longest first) and personal data as ``***``."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return mask_personal(text)
