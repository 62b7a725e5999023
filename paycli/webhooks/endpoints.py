"""`webhooks add | list | remove`: the merchants' endpoints.

An endpoint is an http(s) URL, the event types it hears (patterns such as `payment.*`,
`refund.completed`; all by default) and its Standard Webhooks secret (`whsec_` and the
base64 of 32 random bytes), shown once by `add`.

Invariants: a URL naming (or resolving to) a private, loopback, link-local or otherwise
non-public address is refused unless allowed: a shared ledger must not become a way to
probe the network its senders run in; a pattern must match some event type (a typo
would otherwise silently hear nothing); no result but `add`'s carries the secret, and no
error message carries a URL's user information.
"""

from __future__ import annotations

import base64
import fnmatch
import ipaddress
import secrets
import socket
from urllib.parse import urlsplit

from paycli.errors import NotFound, UsageError
from paycli.results.webhooks import EndpointAdded, EndpointEntry, EndpointRemoved, EndpointsList
from paycli.store import Store
from paycli.store import webhooks as rows
from paycli.webhooks.events import EVENT_TYPES

ALL = "*"
MAX_URL = 2000


def patterns_of(stored: str) -> list[str]:
    """An endpoint's patterns as stored (comma-joined)."""
    return [pattern for pattern in stored.split(",") if pattern]


def parse_patterns(text: str | None) -> list[str]:
    """`--events`: comma-separated patterns, each matching at least one event type."""
    patterns = [part.strip() for part in (text or ALL).split(",") if part.strip()]
    if not patterns:
        raise UsageError("--events: give at least one event type or pattern")
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(type_, pattern) for type_ in EVENT_TYPES):
            raise UsageError(f"--events: {pattern[:60]!r} matches no event type (one of "
                             f"{', '.join(EVENT_TYPES)})")
    return patterns


def check_url(url: str, allow_private: bool) -> str:
    """The endpoint URL if it is http(s) to a public address (or `allow_private`)."""
    parts = urlsplit(url.strip())
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError("the endpoint must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise UsageError("the endpoint URL must not carry a user or password")
    if not allow_private:
        for address in _addresses(parts.hostname):
            if not address.is_global:
                raise UsageError(f"{parts.hostname} is a private or loopback address "
                                 "(--allow-private to send there anyway)")
    return url.strip()


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses a host names: itself if it is one, else what it resolves to now
    (none if it does not resolve: nothing to refuse yet)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in found]


def new_secret() -> str:
    """A Standard Webhooks signing secret."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def add(store: Store, url: str, patterns: list[str]) -> EndpointAdded:
    """Store an endpoint (it hears of events from now on) and show its secret once."""
    endpoint_id, secret = "whe_" + secrets.token_hex(12), new_secret()
    with store.transaction() as tx:
        rows.add_endpoint(tx, endpoint_id, url, ",".join(patterns), secret)
    return EndpointAdded(endpoint_id=endpoint_id, url=url, events=patterns, secret=secret)


def listing(store: Store) -> EndpointsList:
    """The active endpoints, without their secrets."""
    return EndpointsList(endpoints=[
        EndpointEntry(endpoint_id=row.id, url=row.url, events=patterns_of(row.events),
                      cursor=row.cursor, created_at=row.created_at)
        for row in rows.endpoints(store.read)])


def remove(store: Store, endpoint_id: str) -> EndpointRemoved:
    """Stop an endpoint's deliveries; its history stays. Not found (7) if unknown or
    already removed."""
    with store.transaction() as tx:
        found = rows.endpoint(tx, endpoint_id)
        if found is None or not rows.remove_endpoint(tx, endpoint_id):
            raise NotFound(f"no active webhook endpoint {endpoint_id[:40]!r}")
    return EndpointRemoved(endpoint_id=endpoint_id, url=found.url, removed=True)
