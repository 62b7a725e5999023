"""PostgreSQL support is the `postgres` extra: a plain `pip install paycli` has no driver,
and a `postgresql://` ledger without it is one clear line naming the extra (exit 2), with
no traceback and nothing written.

The missing driver is made real in a paycli process of its own: `sys.modules['psycopg']`
set to None makes every `import psycopg` in it fail as it does where psycopg is not
installed (the test environment itself installs the extra).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import ROOT, paycli_env, run_json

from paycli.store import Store

URL = "postgresql://ops@127.0.0.1:1/ledger"  # never reached: the driver is missing first
MESSAGE = "PostgreSQL ledgers need the postgres extra: pip install 'paycli[postgres]'"
WITHOUT_PSYCOPG = ("import runpy, sys; sys.modules['psycopg'] = None; "
                   "runpy.run_module('paycli', run_name='__main__', alter_sys=True)")


def without_driver(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m paycli ARGS` in a process where psycopg cannot be imported."""
    return subprocess.run([sys.executable, "-c", WITHOUT_PSYCOPG, *args],
                          env=paycli_env(**env), capture_output=True, text=True, timeout=60,
                          cwd=ROOT)


def assert_refused(done: subprocess.CompletedProcess[str]) -> None:
    """Exit 2 and the one line naming the extra, no traceback."""
    assert done.returncode == 2, done.stderr
    assert MESSAGE in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


class TestThePackage:
    def test_the_driver_is_an_extra_that_the_test_extra_includes(self) -> None:
        """psycopg is not a core dependency; `postgres` brings it and `test` brings
        `postgres` (CI installs `.[test]` and runs the suite on both engines)."""
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        assert not [dep for dep in project["dependencies"] if "psycopg" in dep]
        extras = project["optional-dependencies"]
        assert any(dep.startswith("psycopg[binary]") for dep in extras["postgres"])
        assert "paycli[postgres]" in extras["test"]


@pytest.mark.slow  # paycli as real processes
class TestWithoutTheDriver:
    def test_db_option(self) -> None:
        """`--db postgresql://…` names the extra, in text and in --json."""
        assert_refused(without_driver("--db", URL, "wallet", "balance", "--user", "alice"))
        done = without_driver("--db", URL, "wallet", "credit", "--user", "alice",
                              "--amount", "10", "--json")
        assert (done.returncode, done.stderr) == (2, "")
        assert json.loads(done.stdout)["error"] == {"type": "usage_error", "message": MESSAGE}

    def test_environment_variable(self) -> None:
        """PAYCLI_DB set to a `postgres://` URL is refused the same way."""
        assert_refused(without_driver("wallet", "balance", "--user", "alice",
                                      PAYCLI_DB="postgres://ops@127.0.0.1:1/ledger"))

    def test_db_copy_leaves_the_source_as_it_was(self, tmp_path: Path) -> None:
        """`db copy --to postgresql://…` is refused before anything is copied or written."""
        source = tmp_path / "ledger.db"
        assert run_json(source, "wallet", "credit", "--user", "alice", "--amount", "10")[0] == 0
        with Store(str(source)) as store:
            events = store.read.event_count()
        assert_refused(without_driver("--db", str(source), "db", "copy", "--to", URL))
        with Store(str(source)) as store:
            assert store.read.event_count() == events

    def test_bench_on_a_server(self, tmp_path: Path) -> None:
        """`bench` with a PostgreSQL `--db` is refused before it creates anything."""
        done = without_driver("--db", URL, "bench", "--payments", "10", "--no-startup",
                              TMPDIR=str(tmp_path))
        assert_refused(done)
        assert list(tmp_path.iterdir()) == []  # not even its scratch folder

    def test_a_file_ledger_needs_no_driver(self, tmp_path: Path) -> None:
        """SQLite users are untouched: a ledger file works without psycopg."""
        done = without_driver("--db", str(tmp_path / "ledger.db"), "wallet", "credit",
                              "--user", "alice", "--amount", "10")
        assert done.returncode == 0, done.stderr
