"""The setting ``account_keys``: which visible accounts a run syncs, and its one line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import FatalAPIError

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

#: Accounts named in the line; the rest are counted.
NAMED_ACCOUNTS = 10


class AccountKeysError(FatalAPIError):
    """Setting ``account_keys`` matches no account the credential can see."""


def accounts_line(
    accounts: Sequence[dict[str, Any]], account_keys: Sequence[str]
) -> tuple[str, list[str]]:
    """The check's line for visible ``accounts``, and the ``account_keys`` none of them has.

    Also the line of a sync whose ``account_keys`` match no visible account.
    """
    names = [
        f"{account.get('key')} ({account.get('name')})" for account in accounts[:NAMED_ACCOUNTS]
    ]
    if len(accounts) > NAMED_ACCOUNTS:
        names.append(f"and {len(accounts) - NAMED_ACCOUNTS} more")
    noun = "account" if len(accounts) == 1 else "accounts"
    line = f"credential accepted, {len(accounts)} MindzPay {noun} visible: {', '.join(names)}"
    wanted = list(dict.fromkeys(account_keys))
    if not wanted:
        return line, []
    visible = {account.get("key") for account in accounts}
    if missing := [key for key in wanted if key not in visible]:
        line += (
            "; but setting account_keys names accounts this credential cannot see: "
            f"{', '.join(missing)}"
        )
        return line, missing
    return line + f"; account_keys selects {len(wanted)} of them", []


def select_accounts(
    accounts: Iterable[dict[str, Any]],
    account_keys: Sequence[str],
    redact: Callable[[str], str],
    logger: logging.Logger,
) -> Iterator[dict[str, Any]]:
    """The accounts ``account_keys`` selects (every one if it is empty), in list order.

    Raises:
        AccountKeysError: No key matches a visible account (the run would sync nothing).
    """
    wanted = set(account_keys)
    if not wanted:
        yield from accounts
        return
    seen: set[str] = set()
    visible: list[dict[str, Any]] = []
    for record in accounts:
        visible.append({"key": record.get("key"), "name": record.get("name")})
        if record.get("key") in wanted:
            seen.add(record["key"])
            yield record
    if not seen:
        # Nothing would sync and the run would look green: fail as the check does.
        line, _ = accounts_line(visible, account_keys)
        msg = f"{line}; none of the keys matches a visible account, so nothing would sync"
        raise AccountKeysError(redact(msg))
    if missing := sorted(wanted - seen):
        logger.warning(
            "Setting account_keys names accounts this credential cannot see: %s", missing
        )


def selected(
    keys: Sequence[str], field: str, keeps: Callable[[Mapping[str, Any]], bool]
) -> Callable[[Mapping[str, Any]], bool]:
    """Whether a record as read syncs: ``keeps`` it and its ``field`` is in ``keys`` (if any)."""
    wanted = frozenset(keys)
    if not wanted:
        return keeps
    return lambda record: record.get(field) in wanted and keeps(record)
