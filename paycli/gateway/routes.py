"""The configured gateways, in priority order: names, URLs, protocols, keys, breaker rows.

`PAYCLI_GATEWAYS` (`primary=http://127.0.0.1:3000,backup=http://127.0.0.1:3001|stripe`)
or `[gateways.NAME]` tables in `paycli.toml` (`url`, `protocol`, optionally `api_key`)
list them; with neither, there is one gateway named `default`, made exactly as before
from `PAYCLI_GATEWAY_URL` and `PAYCLI_GATEWAY_API_KEY`.

Invariants:
- Names are 1-32 characters of `[a-z0-9_]` starting with a letter, unique; a gateway's
  key comes from `PAYCLI_GATEWAY_<NAME>_API_KEY` (the name upper-cased) or its table's
  `api_key`, never from another gateway's setting (one acquirer's key is never sent to
  another). Key rules are the single gateway's: empty is a usage error (exit 2), shorter
  than `MIN_API_KEY_LENGTH` a configuration error (exit 11), none at all the built-in test
  key for a loopback URL only (otherwise exit 11).
- Every check runs before anything is written: a bad name, URL or protocol is one usage
  error (exit 2) naming the setting.
- The `default` gateway's breaker row keeps its old name, `gateway`, so that a ledger made
  before several gateways existed keeps its breaker; any other gateway's row is
  `gateway:NAME`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from paycli.config import ENV, Settings, checked_api_key
from paycli.errors import UsageError

DEFAULT = "default"
LIST_ENV = "PAYCLI_GATEWAYS"
# Known protocol names: `stripe` is spoken by its own adapter (`clients` chooses it).
PROTOCOLS = ("paycli", "seed", "stripe")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class Route:
    """One configured gateway: its name, base URL and protocol (no secret: see `api_key`)."""

    name: str
    url: str
    protocol: str = "paycli"
    # Named in a list: its key is `PAYCLI_GATEWAY_<NAME>_API_KEY` even when the name is
    # `default`; only the implicit single gateway reads `PAYCLI_GATEWAY_API_KEY`.
    listed: bool = False

    @property
    def breaker(self) -> str:
        """Its shared breaker's row name (`gateway` for `default`, as ledgers have it)."""
        return "gateway" if self.name == DEFAULT else f"gateway:{self.name}"

    @property
    def key_env(self) -> str:
        """The environment variable holding its API key."""
        if self.listed:
            return f"PAYCLI_GATEWAY_{self.name.upper()}_API_KEY"
        return ENV["gateway_api_key"]


def routes(settings: Settings) -> list[Route]:
    """Every configured gateway, in priority order (checked: names, URLs, protocols)."""
    listed = settings.env.get(LIST_ENV)
    if listed is not None:
        return _unique(_parse_list(listed))
    table = settings.file_value("gateways")
    if table is not None:
        return _unique(_parse_tables(table))
    return [Route(DEFAULT, settings.gateway_url)]


def route_named(settings: Settings, name: str) -> Route:
    """The gateway called `name` (a usage error naming the known ones otherwise)."""
    known = routes(settings)
    for route in known:
        if route.name == name:
            return route
    raise UsageError(f"--gateway {name!r}: no such gateway; configured: "
                     f"{', '.join(route.name for route in known)}")


def _parse_list(text: str) -> list[Route]:
    if not text.strip():
        raise UsageError(f"{LIST_ENV} is empty: give NAME=URL[|PROTOCOL],... or unset it")
    found = []
    for item in text.split(","):
        name, sep, rest = item.strip().partition("=")
        if not sep:
            raise UsageError(f"{LIST_ENV}: {item.strip()!r} is not NAME=URL[|PROTOCOL]")
        url, _, protocol = rest.strip().partition("|")
        found.append(_route(name.strip(), url.strip(), protocol.strip() or "paycli",
                            LIST_ENV))
    return found


def _parse_tables(table: Any) -> list[Route]:
    where = "paycli.toml [gateways]"
    if not isinstance(table, dict) or not table:
        raise UsageError(f"{where}: expected [gateways.NAME] tables with a url")
    found = []
    for name, entry in table.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise UsageError(f"{where}: [gateways.{name}] needs url = \"http://HOST:PORT\"")
        protocol = entry.get("protocol", "paycli")
        found.append(_route(str(name), entry["url"], str(protocol), where))
    return found


def _route(name: str, url: str, protocol: str, where: str) -> Route:
    if not _NAME.match(name):
        raise UsageError(f"{where}: gateway name {name!r}: use 1-32 of a-z, 0-9 and _, "
                         "starting with a letter")
    if protocol not in PROTOCOLS:
        raise UsageError(f"{where}: gateway {name}: unknown protocol {protocol!r} "
                         f"(one of {', '.join(PROTOCOLS)})")
    return Route(name, check_url(url, f"{where}: gateway {name}"), protocol, listed=True)


def check_url(url: str, where: str) -> str:
    """`url` without a trailing slash, checked to be http(s)://host[:port]."""
    url = url.rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UsageError(f"{where}: invalid URL {url!r}: expected http://host[:port]") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{where}: invalid URL {url!r}: expected http://host[:port]")
    return url


def _unique(found: list[Route]) -> list[Route]:
    names = [route.name for route in found]
    for name in names:
        if names.count(name) > 1:
            raise UsageError(f"{LIST_ENV}: gateway {name!r} is named twice")
    return found


def api_key(settings: Settings, route: Route) -> str:
    """`route`'s API key (a secret: never print it), under the single gateway's rules."""
    if route.key_env == ENV["gateway_api_key"]:
        return settings.gateway_api_key
    value = settings.env.get(route.key_env)
    if value is None:
        table = settings.file_value("gateways")
        entry = table.get(route.name) if isinstance(table, dict) else None
        value = entry.get("api_key") if isinstance(entry, dict) else None
    return checked_api_key(value, route.key_env, route.url, f"gateway {route.name}'s")
