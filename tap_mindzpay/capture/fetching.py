"""Per-record requests made concurrently and handed out in id order (refreshes, deletion checks).

A window of requests runs ahead of the one handed out next, with no barrier between chunks, so
the workers never wait for the slowest request of a chunk. Every request goes through the
stream's one request path, so the rate budget and the retries hold for all of them together.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

#: Requests in flight per worker ahead of the one handed out next.
WINDOW_PER_WORKER = 4


def fetched_in_order(
    ids: Sequence[int],
    fetch: Callable[[int], dict[str, Any] | None],
    *,
    max_concurrency: int,
    on_stop: Callable[[], None],
    name: str,
) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """``(id, fetch(id))`` for every id, in the order given, fetched by a pool of workers.

    A stop asked in a worker (``SystemExit``) cancels what is still queued, calls ``on_stop``
    (write the STATE that matches what was handed out) and stops the run.
    """
    if not ids:
        return
    workers = max(1, min(max_concurrency, len(ids)))
    window = workers * WINDOW_PER_WORKER
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        ahead: deque[tuple[int, Future[dict[str, Any] | None]]] = deque()
        queue = iter(ids)
        for record_id in queue:
            ahead.append((record_id, pool.submit(fetch, record_id)))
            if len(ahead) >= window:
                break
        while ahead:
            record_id, future = ahead.popleft()
            try:
                record = future.result()
            except SystemExit:
                for _, waiting in ahead:
                    waiting.cancel()
                on_stop()
                raise
            following = next(queue, None)
            if following is not None:
                ahead.append((following, pool.submit(fetch, following)))
            yield record_id, record
