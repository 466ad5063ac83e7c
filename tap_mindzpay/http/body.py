"""An answer's body: read in chunks up to a bound, and the form a decoder expects of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from tap_mindzpay.errors import MindzPayAPIError

if TYPE_CHECKING:
    import requests

#: A response body larger than this stops the run. A page of 100 records is about 50 KB, so a
#: real answer stays three orders of magnitude below it; reading it in chunks keeps a broken
#: or hostile answer from growing the tap's memory without end.
MAX_BODY_BYTES = 64 * 1024 * 1024
BODY_CHUNK_BYTES = 1024 * 1024


class BodyDecoder(Protocol):
    """Decodes a response body of one expected form (``msgspec.DecodeError`` if not)."""

    def decode(self, content: bytes) -> Any:  # noqa: ANN401 - decoded JSON
        """The decoded body."""
        ...


def read_bounded(response: requests.Response, method: str, path: str) -> None:
    """Read the body of a streamed ``response`` into it, up to ``MAX_BODY_BYTES``.

    Raises:
        MindzPayAPIError: The body is (or says it is) larger than ``MAX_BODY_BYTES``.
    """
    declared = response.headers.get("Content-Length", "")
    read = int(declared) if declared.isdigit() else 0
    chunks: list[bytes] = []
    if read <= MAX_BODY_BYTES:
        read = 0
        for chunk in response.iter_content(BODY_CHUNK_BYTES):
            read += len(chunk)
            if read > MAX_BODY_BYTES:
                break
            chunks.append(chunk)
    if read > MAX_BODY_BYTES:
        response.close()
        msg = (
            f"{method} {path} answered a body over {MAX_BODY_BYTES // (1024 * 1024)} MiB; no "
            "MindzPay answer is that large - lower the setting page_size, or report the endpoint"
        )
        raise MindzPayAPIError(msg)
    # ``requests`` keeps a read body here; ``response.content`` then returns it as usual.
    response._content = b"".join(chunks)  # noqa: SLF001
