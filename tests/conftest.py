"""Shared fixtures: a temporary ledger, one with every kind of history, a running mock
gateway, a CLI runner; and `load_fixture`, which reads test data from `fixtures/`.

Both backends: in the modules named in `BOTH_BACKENDS`, every test that uses a ledger
(`db_path` and what builds on it: `store`, `cli`, `funded`, `history`) runs twice, on
SQLite and on PostgreSQL (`backend`), with the same test code, unless it is marked
`sqlite_only` (what it proves does not depend on the engine). There `db_path` is a file
path or, for PostgreSQL, a `LedgerUrl`: the URL of a fresh database of the session's
server (see `pg_server`), which every helper passes on as `--db` or to `Store`.
"""

import compileall
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import typer
import typer.testing
from click.testing import Result
from gateway_server import gateway, gateway_server, protocol, seed_gateway_server  # noqa: F401
from helpers import LedgerUrl, paycli_env, run_json
from history import History, build_history
from pg_server import SKIP_REASON, Server, start_server
from typer.testing import CliRunner

from paycli.cli import app
from paycli.config import ENV
from paycli.store import Store
from paycli.store.copy import copy_ledger

BOTH_BACKENDS = frozenset({
    "test_ledger", "test_saga", "test_refunds", "test_crash", "test_bank", "test_stateful",
    "test_security", "test_multihost", "test_db_copy", "test_reconcile", "test_limits",
    "test_batch", "test_group", "test_orders", "test_stats", "test_summaries", "test_events",
    "test_metrics", "test_webhooks", "test_webhook_kills", "test_listen", "test_listen_group",
    "test_round_trips",
})

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# Typer's CliRunner (Click >= 8.2) always keeps stderr apart: `result.stdout` is stdout only,
# `result.stderr` is stderr only, and `result.output` is both interleaved.
CliCall = Callable[..., Result]


def fixture_path(name: str) -> Path:
    """The path of a data file under the repository's `fixtures/` folder."""
    path = FIXTURES / name
    assert path.is_file(), f"no test data file {path}"
    return path


def load_fixture(name: str) -> Any:
    """The parsed contents of a JSON data file under `fixtures/`."""
    return json.loads(fixture_path(name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session", autouse=True)
def compiled_once() -> None:
    """Byte-compile paycli and the mock gateway once, at the start of the session.

    Where `PYTHONDONTWRITEBYTECODE` is set (as on the CI machines), every paycli process
    the tests start would compile every module from source again: ~0.2 s each, for the
    thousands of processes the system tests run. Compiled here, they are only read.
    """
    root = FIXTURES.parent
    compileall.compile_dir(root / "paycli", quiet=1)
    compileall.compile_file(root / "mock_gateway.py", quiet=1)


@pytest.fixture(scope="session", autouse=True)
def click_command_built_once() -> Iterator[None]:
    """Build paycli's Click command from the Typer app once per session.

    `CliRunner.invoke` rebuilds it on every call (~50 ms, most of an in-process CLI test's
    time); the app does not change during a run, so every invocation can share one build.
    """
    if not hasattr(typer.testing, "_get_command"):  # a Typer that builds it elsewhere
        yield
        return
    built = typer.main.get_command(app)
    build = typer.testing._get_command

    def cached(typer_app: typer.Typer) -> Any:
        return built if typer_app is app else build(typer_app)

    with mock.patch.object(typer.testing, "_get_command", cached):
        yield


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the ledger-using tests of the `BOTH_BACKENDS` modules on both backends."""
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if (module in BOTH_BACKENDS and "backend" in metafunc.fixturenames
            and metafunc.definition.get_closest_marker("sqlite_only") is None):
        metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the PostgreSQL runs (`-m "not postgresql"` leaves them out of a quick loop), and
    run the seed-protocol cases on SQLite only: the gateway's protocol and the ledger's
    engine are independent, and their full cross product would double the slowest tests."""
    for item in items:
        if _params(item).get("backend") == "postgresql":
            item.add_marker(pytest.mark.postgresql)
    crossed = {item.nodeid for item in items if _params(item).get("protocol") == "seed"
               and _params(item).get("backend") == "postgresql"}
    if crossed:
        config.hook.pytest_deselected(items=[i for i in items if i.nodeid in crossed])
        items[:] = [item for item in items if item.nodeid not in crossed]


def _params(item: pytest.Item) -> dict[str, Any]:
    callspec = getattr(item, "callspec", None)
    return dict(callspec.params) if callspec is not None else {}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server | None]:
    """The session's PostgreSQL server (None when there is none; see `pg_server`)."""
    yield from start_server()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The ledger's engine: `sqlite` unless the module runs on both (see the docstring)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> Server:
    """The session's PostgreSQL server; the test is skipped when there is none."""
    server: Server | None = request.getfixturevalue("pg_server")
    if server is None:
        pytest.skip(SKIP_REASON)
    return server


@pytest.fixture
def db_path(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A ledger nobody wrote to yet: a path in a fresh temporary folder (the file does not
    exist yet), or on PostgreSQL the URL of a fresh database holding an empty ledger."""
    if backend == "sqlite":
        yield tmp_path / "ledger.db"
        return
    server: Server = request.getfixturevalue("pg")
    url = server.create_ledger()
    yield LedgerUrl(url)  # type: ignore[misc]  # a str standing in for a Path
    server.drop(url)


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    """An opened ledger on `db_path`, closed after the test."""
    with Store(str(db_path)) as opened:
        yield opened


@pytest.fixture(scope="session")
def history_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, History]:
    """`build_history`'s ledger, built once per session, and the ids of what it holds."""
    path = tmp_path_factory.mktemp("history") / "ledger.db"
    with Store(str(path)) as built:
        return path, build_history(built)


@pytest.fixture
def history(store: Store, history_template: tuple[Path, History]) -> History:
    """`store` now holds credits, payments of every outcome and refunds, in USD and JPY.

    The session's template is copied into the test's open ledger (SQLite's backup API, or
    `db copy`'s row copy for PostgreSQL), so every test gets its own copy without running
    the sagas again.
    """
    path, built = history_template
    if store.backend == "sqlite":
        template = sqlite3.connect(path)
        try:
            template.backup(store.conn)  # type: ignore[attr-defined]
        finally:
            template.close()
    else:
        with Store(str(path)) as source:
            copy_ledger(source, store)
    return History(dict(built.payments), dict(built.refunds))


@pytest.fixture
def cli(db_path: Path, tmp_path: Path) -> CliCall:
    """Run `paycli --db <db_path> *args` in-process and return Click's `Result`.

    The environment is hermetic: no `PAYCLI_*` variable leaks in from the caller, and the
    config folder (where `paycli.toml` would live) is an empty temporary one.
    """
    base: dict[str, str | None] = dict.fromkeys(ENV.values())
    base["XDG_CONFIG_HOME"] = str(tmp_path / "config")

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(app, ["--db", str(db_path), *args], env={**base, **(env or {})})

    return invoke


def count_events(path: Path) -> int:
    """How many events the ledger at `path` holds (0 if it does not exist yet)."""
    if isinstance(path, LedgerUrl):
        return path.event_count()
    if not path.exists():
        return 0
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:  # a file with no events table yet
        return 0
    finally:
        conn.close()


@pytest.fixture
def empty_ledger(db_path: Path) -> Path:
    """A ledger that exists and holds nothing yet (read commands refuse a missing one)."""
    with Store(str(db_path)):
        pass
    return db_path


@pytest.fixture
def event_count() -> Callable[[Path], int]:
    """`event_count(db_path)`: how many events a ledger file holds, read with plain SQLite."""
    return count_events


@pytest.fixture
def env(gateway: Any) -> dict[str, str]:  # noqa: F811 - the fixture, used by name
    """paycli's environment, pointed at the session's mock gateway (a module may define
    its own)."""
    return paycli_env(gateway.url)


@pytest.fixture
def funded(db_path: Path, env: dict[str, str]) -> Path:
    """A ledger where alice has 100.00 USD (a module may define its own)."""
    assert run_json(db_path, "wallet", "credit", "--user", "alice", "--amount", "100",
                    env=env)[0] == 0
    return db_path
