"""Settings: command line beats environment beats `paycli.toml` beats the default.

Values are checked where they are used, so a bad gateway setting stops only the commands
that talk to the gateway. The data folder (where `paycli.toml` and the default ledger live)
is given by the terminal layer (`typer.get_app_dir`); settings made without one, as the
bench and the demo make theirs, read no file. A secret (the gateway API key, the webhook
signing secret) is read from the environment or the file, never from the command line,
and is never shown; so is a PostgreSQL password in a `--db` URL (`redact_url` is how a
URL is named anywhere). With no key set, the mock gateway's built-in key is used for a
loopback gateway only: any other gateway without a key is a configuration error.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from paycli.errors import GatewayConfigError, UsageError

# The shortest API key paycli sends (and cuts out of the gateway's answers): the built-in
# `test-api-key` has 12 characters; real gateways' keys have 20 and more.
MIN_API_KEY_LENGTH = 8

T = TypeVar("T")

POSTGRES_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


_HALF_URL = re.compile(r"^(?:postgres(?:ql)?|sqlite|file|https?):(?!//)", re.IGNORECASE)
_CONNINFO = re.compile(r"(?:^|\s)(?:dbname|host|hostaddr|user|port|sslmode)=")


def db_scheme(target: str) -> str | None:
    """The URL scheme of a `--db` value (`postgresql`), or None for a file path.

    Any `scheme://` other than PostgreSQL's is a usage error: such a value is never taken
    for a path (it would silently become a folder named `scheme:` and a SQLite file).
    """
    found = _SCHEME.match(target)
    if found is None:
        if _HALF_URL.match(target):
            # `postgresql:/db` (one slash): a mistyped URL, never a folder named `postgresql:`.
            # Not echoed: it may hold a password the URL parser cannot find to hide.
            raise UsageError("--db looks like a mistyped URL (one slash after the scheme); "
                             "give postgresql://USER@HOST/DBNAME, or a file's path")
        if _CONNINFO.search(target):
            # libpq's `host=… dbname=…` form: never a path (it would become a SQLite file
            # named after it, and nothing would be shared).
            raise UsageError("--db looks like a PostgreSQL connection string (key=value); "
                             "give it as a URL: postgresql://USER@HOST/DBNAME")
        return None
    scheme = found.group(1).lower()
    if scheme not in POSTGRES_SCHEMES:
        raise UsageError(f"--db {redact_url(target)}: unsupported scheme {scheme}://; give a "
                         "ledger file's path or a postgresql:// URL")
    return "postgresql"


def redact_url(target: str) -> str:
    """`target` with any password replaced by `***`, in its user part and its query string
    (`password=`), so a URL can be named in messages and logs."""
    if _SCHEME.match(target) is None:
        return target
    try:
        parts = urlsplit(target)
    except ValueError:
        return target.split("://", 1)[0] + "://***"
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        netloc = f"{user}@{host}"
    query = re.sub(r"(?i)(^|&)(password)=[^&]*", r"\1\2=***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

DEFAULTS: dict[str, Any] = {
    "gateway_url": "http://127.0.0.1:3000",
    "gateway_timeout": 5.0,
    "retry_attempts": 3,
    "breaker_failures": 5,
    "breaker_reset_seconds": 30.0,
    "max_amount": 1_000_000,
}
ENV = {name: f"PAYCLI_{name.upper()}"
       for name in (*DEFAULTS, "gateway_api_key", "db", "log_file", "actor",
                    "webhook_secret")}
# The mock gateway's key: the default only for a gateway on this machine, so that a
# forgotten setting never sends a well-known key to a real gateway.
BUILTIN_API_KEY = "test-api-key"


def is_loopback(host: str) -> bool:
    """Whether `host` (a URL's host name) is this machine: `localhost`, 127.0.0.0/8, ::1."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True  # RFC 6761: resolvers answer these with the loopback address only
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    import tomllib  # late: only when a paycli.toml exists

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: not a valid paycli.toml ({exc})") from None


@dataclass
class Settings:
    """Every setting, resolved on demand from its sources."""

    overrides: dict[str, Any] = field(default_factory=dict)
    # Both may hold the gateway API key: kept out of repr() (debuggers, logs, tracebacks).
    env: Mapping[str, str] = field(default_factory=lambda: os.environ, repr=False)
    data_dir: Path | None = None
    _file: dict[str, Any] | None = field(default=None, repr=False)

    def raw(self, name: str) -> Any:
        """The winning source's value of `name` (None when nothing sets it)."""
        if self.overrides.get(name) is not None:
            return self.overrides[name]
        if ENV[name] in self.env:
            return self.env[ENV[name]]
        if self._file is None:
            self._file = _read_file(self.data_dir / "paycli.toml") if self.data_dir else {}
        if name in self._file:
            return self._file[name]
        return DEFAULTS.get(name)

    def file_value(self, name: str) -> Any:
        """`name` as `paycli.toml` sets it (None when it does not): for settings that only
        a file can give whole, such as the `[gateways.NAME]` tables."""
        if self._file is None:
            self._file = _read_file(self.data_dir / "paycli.toml") if self.data_dir else {}
        return self._file.get(name)

    def _number(self, name: str, kind: Callable[[Any], T], low: float) -> T:
        value = self.raw(name)
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise UsageError(f"{ENV[name]}: expected a number, got {value!r}") from None
        if not float(number) >= low:  # type: ignore[arg-type]
            raise UsageError(f"{ENV[name]}: must be at least {low}, got {value!r}")
        return number

    @property
    def db(self) -> str:
        """The ledger: a file's path or a `postgresql://` URL (any other scheme is refused)."""
        value = self.raw("db")
        if value is not None and not str(value).strip():
            # An empty --db (say, an unset shell variable) must not mean the default ledger.
            raise UsageError("--db / PAYCLI_DB is empty: give the ledger file's path")
        if value:
            db_scheme(str(value))
            return str(value)
        if self.data_dir is None:
            raise UsageError("no ledger given: use --db or PAYCLI_DB")
        return str(self.data_dir / "ledger.db")

    @property
    def log_file(self) -> str | None:
        """Where JSON log lines go, if anywhere."""
        value = self.raw("log_file")
        return str(value) if value else None

    @property
    def gateway_url(self) -> str:
        """The card gateway's base URL, checked to be an http(s) URL."""
        url = str(self.raw("gateway_url")).rstrip("/")
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. an unclosed IPv6 bracket: `http://[::1`
            raise UsageError(f"invalid gateway URL {url!r}: expected http://host[:port]") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"invalid gateway URL {url!r}: expected http://host[:port]")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise UsageError(f"invalid gateway URL {url!r}: bad port") from None
        return url

    @property
    def actor(self) -> str | None:
        """Who is acting, recorded on every event (None: the OS user, the store's default)."""
        value = self.raw("actor")
        if value is None:
            return None
        text = str(value).strip()
        if not text or len(text) > 64 or not text.isprintable():
            raise UsageError(f"{ENV['actor']}: use 1-64 printable characters, got {value!r}")
        return text

    @property
    def gateway_api_key(self) -> str:
        """The gateway's API key (a secret: never print it), by `checked_api_key`'s rules."""
        return checked_api_key(self.raw("gateway_api_key"), ENV["gateway_api_key"],
                               self.gateway_url)

    @property
    def webhook_secret(self) -> str:
        """The secret the gateway signs its webhooks with (`whsec_` + base64; a secret:
        never print it), from the environment or paycli.toml only; unset or empty is a
        usage error."""
        value = self.raw("webhook_secret")
        if value is None or not str(value).strip():
            raise UsageError(f"{ENV['webhook_secret']} is not set: set the gateway's webhook "
                             "signing secret (whsec_...) in the environment or in paycli.toml")
        return str(value).strip()

    @property
    def gateway_timeout(self) -> float:
        """Seconds allowed per gateway attempt."""
        return self._number("gateway_timeout", float, 0.001)

    @property
    def retry_attempts(self) -> int:
        """Attempts per gateway call."""
        return self._number("retry_attempts", int, 1)

    @property
    def breaker_failures(self) -> int:
        """Consecutive failed attempts, across processes, that open the breaker."""
        return self._number("breaker_failures", int, 1)

    @property
    def breaker_reset_seconds(self) -> float:
        """How long the breaker stays open before one probe."""
        return self._number("breaker_reset_seconds", float, 0.0)

    @property
    def max_amount(self) -> int:
        """The largest single amount, in major units."""
        return self._number("max_amount", int, 1)


def checked_api_key(value: object | None, setting: str, url: str,
                    whose: str = "the gateway's") -> str:
    """A gateway's API key as `setting` gives it (`value`; a secret: never print it), by
    the one set of rules every gateway's key follows: none at all is the built-in test key
    for a gateway on this machine only (elsewhere exit 11); empty is a usage error; shorter
    than `MIN_API_KEY_LENGTH` is refused (exit 11). Each is raised when the saga reads its
    settings, before it writes anything."""
    if value is None:
        host = urlsplit(url).hostname or ""
        if not is_loopback(host):
            raise GatewayConfigError(
                f"{setting} is not set: the built-in test key is sent only to a gateway on "
                f"this machine, not to {host}; set {whose} API key in the environment or in "
                "paycli.toml")
        return BUILTIN_API_KEY
    key = str(value)
    if not key.strip():
        # A usage error, not a gateway answer: sent empty, every call would only come
        # back 401.
        raise UsageError(f"{setting} is empty: set {whose} API key in the environment or "
                         "in paycli.toml")
    if len(key) < MIN_API_KEY_LENGTH:
        # A gateway would refuse it; and a key that short is no secret, so cutting it out
        # of the gateway's words would mangle them (`missing or [redacted] ...`).
        raise GatewayConfigError(
            f"{setting} is {len(key)} characters, too short to be a gateway's API key (at "
            f"least {MIN_API_KEY_LENGTH}); nothing was sent")
    return key
