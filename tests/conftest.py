"""Shared fixtures: a temporary ledger, one with every kind of history, a running mock
gateway, a CLI runner; and `load_fixture`, which reads test data from `fixtures/`."""

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
from gateway_server import gateway, gateway_server  # noqa: F401
from helpers import paycli_env, run_json
from history import History, build_history
from seed_gateway import seed_gateway  # noqa: F401
from typer.testing import CliRunner

from paycli.cli import app
from paycli.config import ENV
from paycli.store import Store

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


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A ledger path in a fresh temporary folder; the file does not exist yet."""
    return tmp_path / "ledger.db"


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

    The session's template is copied into the test's open ledger with SQLite's backup API,
    so every test gets its own copy without running the sagas again.
    """
    path, built = history_template
    template = sqlite3.connect(path)
    try:
        template.backup(store.conn)
    finally:
        template.close()
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
