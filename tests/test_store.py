"""The ledger file: where it lives, how it is protected, and what it refuses to open."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paycli.errors import LedgerCorrupt, UsageError
from paycli.store import Store
from paycli.store.hashing import canonical_json
from paycli.store.identity import APPLICATION_ID, SCHEMA_VERSION


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """Run the test under the common umask 022 (which would leave files 0644)."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def foreign_sqlite(path: Path) -> bytes:
    """Make an ordinary (non-paycli) SQLite database at `path`; returns its bytes."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.commit()
    conn.close()
    return path.read_bytes()


@pytest.mark.usefixtures("umask_022")
class TestFilePermissions:
    def test_new_ledger_file_is_private(self, db_path: Path) -> None:
        """A new ledger file is created 0600, whatever the umask allows."""
        Store(str(db_path)).close()
        assert mode(db_path) == 0o600

    def test_wal_and_shm_files_are_private(self, store: Store, db_path: Path) -> None:
        """While the ledger is open, its -wal and -shm files are 0600 too."""
        with store.transaction() as tx:
            tx.append_event("test.written", "x", {})
        wal, shm = Path(f"{db_path}-wal"), Path(f"{db_path}-shm")
        assert wal.exists() and shm.exists()
        assert (mode(db_path), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)

    def test_missing_folder_is_created_private(self, tmp_path: Path) -> None:
        """A ledger in a folder that does not exist gets that folder, 0700."""
        path = tmp_path / "fresh" / "paycli" / "ledger.db"
        Store(str(path)).close()
        assert mode(path.parent) == 0o700
        assert mode(path) == 0o600

    def test_existing_folder_is_left_alone(self, tmp_path: Path) -> None:
        """paycli does not change the mode of a folder it did not create."""
        folder = tmp_path / "shared"
        folder.mkdir(mode=0o755)
        Store(str(folder / "ledger.db")).close()
        assert mode(folder) == 0o755


class TestPragmas:
    def test_wal_mode_and_full_sync(self, store: Store) -> None:
        """The connection runs in WAL mode with synchronous=FULL and foreign keys on."""
        conn = store.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1

    def test_wal_mode_is_persistent(self, store: Store, db_path: Path) -> None:
        """Another connection to the file sees it in WAL mode."""
        other = sqlite3.connect(db_path)
        try:
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            other.close()

    def test_schema_version_and_application_id_are_recorded(self, store: Store) -> None:
        """The file is marked as a paycli ledger at the current schema version."""
        conn = store.conn
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID

    def test_autocommit_outside_transactions(self, store: Store) -> None:
        """The sqlite3 module's implicit transactions are off."""
        assert store.conn.isolation_level is None
        assert not store.conn.in_transaction


class TestReopen:
    def test_reopening_keeps_the_data(self, db_path: Path) -> None:
        """A ledger closed and opened again holds what was committed."""
        with Store(str(db_path)) as first, first.transaction() as tx:
            tx.append_event("test.written", "x", {"n": 1})
        with Store(str(db_path)) as second:
            assert second.read.event_count() == 1

    def test_failed_transaction_rolls_back(self, store: Store) -> None:
        """An exception inside a transaction leaves nothing behind."""
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.append_event("test.written", "x", {})
            raise RuntimeError("boom")
        assert store.read.event_count() == 0
        assert not store.conn.in_transaction

    def test_an_up_to_date_ledger_opens_without_ddl_or_postgres(self, db_path: Path) -> None:
        """Opening a ledger already at `SCHEMA_VERSION` loads neither the DDL that makes
        one (`schema`, `tables`) nor the PostgreSQL engine: start-up of every command."""
        Store(str(db_path)).close()
        code = ("import sys; from paycli.store import Store; Store(sys.argv[1]).close(); "
                "print(' '.join(sorted(m for m in sys.modules if m.startswith('paycli.store'))))")
        loaded = subprocess.run([sys.executable, "-c", code, str(db_path)], check=True,
                                capture_output=True, text=True).stdout.split()
        assert "paycli.store.sqlite" in loaded
        for module in ("schema", "tables", "describe", "postgres", "pg_schema"):
            assert f"paycli.store.{module}" not in loaded


class TestRefusals:
    def test_non_paycli_sqlite_file_is_refused(self, db_path: Path) -> None:
        """An ordinary SQLite database is not taken over as a ledger."""
        foreign_sqlite(db_path)
        with pytest.raises(LedgerCorrupt, match="a SQLite file, but not a paycli ledger"):
            Store(str(db_path))
        conn = sqlite3.connect(db_path)
        try:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
        assert names == {"notes"}

    def test_refused_sqlite_file_is_left_untouched(self, db_path: Path) -> None:
        """Refusing someone else's SQLite database does not change a byte of it."""
        before = foreign_sqlite(db_path)
        with pytest.raises(LedgerCorrupt):
            Store(str(db_path))
        assert db_path.read_bytes() == before

    def test_sqlite_file_of_another_application_is_refused(self, db_path: Path) -> None:
        """A SQLite file marked with another application id is refused."""
        conn = sqlite3.connect(db_path)
        conn.execute("PRAGMA application_id = 42")
        conn.close()
        with pytest.raises(LedgerCorrupt, match="not a paycli ledger"):
            Store(str(db_path))

    def test_newer_schema_is_refused(self, db_path: Path) -> None:
        """A ledger written by a newer paycli is refused, not downgraded."""
        Store(str(db_path)).close()
        conn = sqlite3.connect(db_path)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.close()
        with pytest.raises(LedgerCorrupt, match="newer than this paycli"):
            Store(str(db_path))

    def test_directory_is_refused(self, tmp_path: Path) -> None:
        """A directory given as the ledger path is a usage error."""
        with pytest.raises(UsageError, match="is a directory"):
            Store(str(tmp_path))

    @pytest.mark.parametrize(
        "content",
        [b"hello, this is not a database\n" * 200, b"hi\n", b"SQLite format 3\x00" + b"\xff" * 84],
        ids=["text", "tiny-text", "bad-header"],
    )
    def test_non_sqlite_file_is_refused_untouched(self, db_path: Path, content: bytes) -> None:
        """A file that is not SQLite is refused as not a ledger, and left as it was."""
        db_path.write_bytes(content)
        with pytest.raises(LedgerCorrupt, match="not a paycli ledger"):
            Store(str(db_path))
        assert db_path.read_bytes() == content

    def test_folder_that_is_a_file_is_a_usage_error(self, tmp_path: Path) -> None:
        """A ledger path under a plain file cannot be created: a usage error."""
        blocker = tmp_path / "blocker"
        blocker.write_text("x")
        with pytest.raises(UsageError, match="cannot create"):
            Store(str(blocker / "ledger.db"))


class TestCanonicalJson:
    """Events are hashed over their canonical JSON: the encoder built once gives exactly
    the text of `json.JSONEncoder(sort_keys=True, separators=(",", ":"))`."""

    JSON = st.recursive(
        st.none() | st.booleans() | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=10)

    @given(st.dictionaries(st.text(), JSON) | st.lists(JSON) | JSON)
    @settings(max_examples=100)
    def test_the_same_text_as_the_standard_encoder(self, value: object) -> None:
        standard = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        assert canonical_json(value) == standard.encode(value)

    def test_what_json_cannot_hold_is_refused(self) -> None:
        with pytest.raises(TypeError):
            canonical_json({"when": object()})

