"""The gateway API key stays secret, the ledger's files stay private, the event log stays
append-only, and a hostile gateway answer is refused without a crash.

- The key is a unique canary per run, given to paycli through `PAYCLI_GATEWAY_API_KEY` and
  to a mock gateway of its own. Every command and failure mode runs as a real
  `python -m paycli` process with `--log-file`; the canary must never appear in stdout,
  stderr, the log, a traceback (`--debug`), an export, or the bytes of the database,
  its `-wal` and its `-shm` (a connection held open keeps the WAL from being folded away).
- Under umask 022 the database, `-wal`, `-shm` and log file are created 0600 (checked while
  a writer keeps them open), a folder paycli creates 0700.
- The event log refuses UPDATE, DELETE and INSERT OR REPLACE (sqlite3 IntegrityError).
- The HTTP client (`HttpGateway` over `httpx.MockTransport`) turns answers of wrong types,
  unknown statuses, non-JSON, oversized or redirecting answers into `GatewayFailure`,
  ignores fields it does not read, and keeps the key out of anything a gateway echoes.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import typer
from conftest import load_fixture
from helpers import ROOT, LedgerUrl, paycli_env, run

from paycli.cli import app
from paycli.config import Settings
from paycli.devtools.mock_process import MockGatewayProcess
from paycli.errors import GatewayConfigError
from paycli.gateway.http import HttpGateway
from paycli.gateway.protocol import MAX_BODY_BYTES, ChargeRequest, GatewayFailure
from paycli.gateway.resilience import Resilience
from paycli.ledger import wallet
from paycli.money import Money
from paycli.saga import pay as saga
from paycli.saga import recover as recovery
from paycli.saga.steps import SilentReporter
from paycli.store import BreakerStore, Store

CANARY = f"sk_canary_{secrets.token_hex(16)}"


def has_command(name: str) -> bool:
    """Whether this paycli has the top-level command `name`."""
    group: Any = typer.main.get_command(app)
    return name in group.commands


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[MockGatewayProcess]:
    """A mock gateway of this module's own that only accepts the canary key."""
    with MockGatewayProcess(CANARY) as server:
        yield server


@pytest.fixture
def keyed_gateway(keyed_server: MockGatewayProcess) -> MockGatewayProcess:
    """The canary gateway, reset to `ok` with nothing in it."""
    keyed_server.reset(mode="ok")
    return keyed_server


def server_ledger_text(url: str) -> bytes:
    """Every row of every table of a PostgreSQL ledger, as text (what a file's bytes are
    for a SQLite ledger)."""
    with Store(url) as store:
        tables = [row[0] for row in store.conn.execute(  # type: ignore[attr-defined]
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema()").fetchall()]
        return "".join(str(row) for table in tables for row in store.conn.execute(
            f"SELECT * FROM {table}")).encode()


class Operator:
    """Runs paycli commands with the canary key and a log file; keeps what they printed."""

    def __init__(self, db: Path, log: Path, gateway_url: str) -> None:
        self.db, self.log = db, log
        self.env = paycli_env(gateway_url, PAYCLI_GATEWAY_API_KEY=CANARY,
                              PAYCLI_RETRY_ATTEMPTS="2", PAYCLI_GATEWAY_TIMEOUT="1")
        self.seen: list[str] = []
        self.files: list[Path] = [log]

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`paycli --log-file LOG ARGS`; returns the finished process."""
        done = run(self.db, "--log-file", str(self.log), *args, env={**self.env, **env})
        self.seen += [done.stdout, done.stderr]
        return done

    def json(self, *args: str, **env: str) -> tuple[int, Any]:
        """The same with `--json`: (exit code, the parsed object)."""
        done = self(*args, "--json", **env)
        return done.returncode, json.loads(done.stdout)

    def assert_no_canary(self) -> None:
        """Neither output, log, export nor any ledger file holds the canary."""
        assert self.seen and all(CANARY not in text for text in self.seen)
        assert self.log.exists() and self.log.stat().st_size > 0
        if isinstance(self.db, LedgerUrl):
            assert CANARY.encode() not in server_ledger_text(self.db)
            for path in self.files:
                assert CANARY.encode() not in path.read_bytes(), path
            return
        wal, shm = Path(f"{self.db}-wal"), Path(f"{self.db}-shm")
        assert wal.exists() and shm.exists(), "the held connection should keep the WAL"
        for path in [*self.files, self.db, wal, shm]:
            assert CANARY.encode() not in path.read_bytes(), path


@pytest.fixture
def operator(db_path: Path, tmp_path: Path, keyed_gateway: MockGatewayProcess
             ) -> Iterator[Operator]:
    """An operator with alice funded, and a reader connection held open meanwhile."""
    op = Operator(db_path, tmp_path / "paycli.log", keyed_gateway.url)
    assert op.json("wallet", "credit", "--user", "alice", "--amount", "500")[0] == 0
    if isinstance(db_path, LedgerUrl):  # no WAL to keep: a server ledger has no files
        yield op
        return
    holder = sqlite3.connect(db_path)
    holder.execute("SELECT count(*) FROM events").fetchone()
    try:
        yield op
    finally:
        holder.close()


class TestApiKeyNeverLeaks:
    @pytest.mark.slow
    def test_every_command_on_the_happy_path(self, operator: Operator,
                                             tmp_path: Path) -> None:
        """Every command on the happy path prints, logs and stores everything but the key."""
        op = operator
        code, paid = op.json("pay", "--user", "alice", "--amount", "50")
        assert code == 0 and paid["status"] == "COMPLETED"
        assert op("pay", "--user", "alice", "--amount", "5", "--order-id", "o-1").returncode == 0
        assert op.json("refund", paid["payment_id"], "--amount", "10")[0] == 0
        assert op("refund", paid["payment_id"], "--reason", "all of it").returncode == 0
        for args in (("wallet", "balance", "--user", "alice"),
                     ("wallet", "history", "--user", "alice"), ("gateway", "status"),
                     ("recover",)):
            assert op(*args).returncode == 0
            assert op.json(*args)[0] == 0
        assert op("gateway", "reset").returncode == 0
        if has_command("payments"):
            assert op.json("payments", "list")[0] == 0
            assert op("payments", "show", paid["payment_id"]).returncode == 0
        if has_command("replay-events"):
            assert op.json("replay-events")[0] == 0
        if has_command("export"):
            for form in ("csv", "jsonl"):
                out = tmp_path / f"export.{form}"
                assert op("export", "--format", form).returncode == 0
                assert op("export", "--format", form, "--out", str(out)).returncode == 0
                op.files.append(out)
        log = op.log.read_text()
        assert '"gateway_attempt"' in log and paid["payment_id"] in log
        op.assert_no_canary()

    @pytest.mark.slow
    def test_every_gateway_failure(self, operator: Operator,
                                   keyed_gateway: MockGatewayProcess) -> None:
        """Declines, outages, the breaker, lost, malformed, slow and pending answers hide it."""
        op = operator
        code, paid = op.json("pay", "--user", "alice", "--amount", "20")
        assert code == 0
        for mode, count, expected in (("decline", None, 4), ("down", None, 5),
                                      ("lost-response", 1, 0), ("malformed", None, 10)):
            op("gateway", "reset")
            keyed_gateway.set_mode(mode, count=count)
            assert op("pay", "--user", "alice", "--amount", "1").returncode == expected
            assert op.json("pay", "--user", "alice", "--amount", "1")[0] in (expected, 5)
        op("gateway", "reset")
        keyed_gateway.set_mode("down")
        assert op("refund", paid["payment_id"], "--amount", "1",
                  PAYCLI_BREAKER_FAILURES="2").returncode == 5
        assert op.json("pay", "--user", "alice", "--amount", "1")[1]["error"]["type"] == (
            "breaker_open")
        op("gateway", "reset")
        keyed_gateway.set_mode("slow", latency_ms=600)
        assert op("pay", "--user", "alice", "--amount", "1",
                  PAYCLI_GATEWAY_TIMEOUT="0.2").returncode == 5
        keyed_gateway.set_mode("pending", latency_ms=300)
        assert op("pay", "--user", "alice", "--amount", "1", "--wait", "0").returncode == 10
        time.sleep(0.7)  # slow requests finish, the pending charge settles
        keyed_gateway.set_mode("ok")
        assert op("recover").returncode == 0
        assert op.json("recover")[0] == 0
        op.assert_no_canary()

    @pytest.mark.slow
    def test_unreachable_gateway_and_bad_urls(self, operator: Operator) -> None:
        """A gateway that is not there, or a URL that is not one, never shows the key."""
        op = operator
        assert op("pay", "--user", "alice", "--amount", "1",
                  PAYCLI_GATEWAY_URL="http://127.0.0.1:9").returncode == 5
        for url in ("notaurl", "ftp://x", "http://", "http://[::1"):
            assert op("--gateway-url", url, "pay", "--user", "alice", "--amount", "1",
                      "--json").returncode == 2
            assert op("--debug", "--gateway-url", url, "recover").returncode == 2
        op.assert_no_canary()

    @pytest.mark.slow
    def test_a_gateway_that_refuses_the_key(self, operator: Operator) -> None:
        """A gateway expecting another key answers 401: a configuration error (exit 11),
        and the key not shown."""
        with MockGatewayProcess("another-key") as other:
            done = operator("--gateway-url", other.url, "pay", "--user", "alice",
                            "--amount", "1")
            assert done.returncode == 11 and "401" in done.stderr
            assert operator.json("--gateway-url", other.url, "pay", "--user", "alice",
                                 "--amount", "1")[0] == 11
        operator.assert_no_canary()

    @pytest.mark.slow
    def test_internal_error_traceback_under_debug(self, operator: Operator) -> None:
        """An internal error shows a traceback only with --debug, and neither shows the key."""
        op = operator
        bogus = f"pay_{'e' * 24}"
        with Store(str(op.db)) as store:  # outside any transaction: committed at once
            store.conn.execute(  # type: ignore[attr-defined]
                "INSERT INTO payments (id, user_id, currency, amount, gateway_key, status, "
                "gateway_ref, refunded, refund_reserved, created_at, updated_at) VALUES "
                "(?, 'alice', 'ZZZ', 100, 'k', 'COMPLETED', 'ext_x', 0, 0, 'now', 'now')",
                (bogus,))
        quiet = op("refund", bogus)
        assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
        assert len(quiet.stderr.splitlines()) == 1 and "internal error" in quiet.stderr
        loud = op("--debug", "refund", bogus)
        assert loud.returncode == 1 and "Traceback" in loud.stderr
        op.assert_no_canary()

    def test_settings_repr_hides_the_key(self) -> None:
        """repr(Settings) (debuggers, log lines) shows neither environment nor file."""
        from_env = Settings(env={"PAYCLI_GATEWAY_API_KEY": CANARY})
        from_file = Settings(env={}, _file={"gateway_api_key": CANARY})
        assert from_env.gateway_api_key == from_file.gateway_api_key == CANARY
        assert CANARY not in repr(from_env) and CANARY not in repr(from_file)


def mode_of(path: Path) -> int:
    """A file's permission bits."""
    return stat.S_IMODE(path.stat().st_mode)


WRITER = """
import sys, time
from pathlib import Path
from paycli.ledger import wallet
from paycli.money import Money
from paycli.store import Store

db, ready, stop = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
with Store(db) as store:
    while not stop.exists():
        wallet.credit(store, "alice", Money(1, "USD"))
        ready.touch()
        time.sleep(0.01)
"""


class TestFiles:
    @pytest.mark.slow
    def test_ledger_files_are_private_under_umask_022(self, tmp_path: Path) -> None:
        """Under umask 022 the db, -wal and -shm are 0600 and a new ledger folder 0700."""
        db = tmp_path / "new-folder" / "ledger.db"
        ready, stop = tmp_path / "ready", tmp_path / "stop"
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(ready), str(stop)],
                                  cwd=ROOT, umask=0o022, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while not ready.exists():
                assert writer.poll() is None, writer.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.01)
            modes = {suffix: mode_of(Path(f"{db}{suffix}")) for suffix in ("", "-wal", "-shm")}
        finally:
            stop.touch()
            _, err = writer.communicate(timeout=20)
        assert writer.returncode == 0, err
        assert modes == {"": 0o600, "-wal": 0o600, "-shm": 0o600}
        assert mode_of(db.parent) == 0o700

    @pytest.mark.slow
    def test_log_file_is_private_under_umask_022(self, db_path: Path, tmp_path: Path,
                                                 gateway: MockGatewayProcess) -> None:
        """The log file paycli creates is 0600 even under umask 022."""
        log = tmp_path / "paycli.log"
        env = paycli_env(gateway.url)
        run(db_path, "wallet", "credit", "--user", "alice", "--amount", "5", env=env)
        done = subprocess.run(
            [sys.executable, "-m", "paycli", "--db", str(db_path), "--log-file", str(log), "pay",
             "--user", "alice", "--amount", "1"],
            cwd=ROOT, env=env, umask=0o022, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert log.read_text().count("\n") >= 5 and mode_of(log) == 0o600

    @pytest.mark.parametrize("sql", [
        "UPDATE events SET type = 'forged'",
        "UPDATE events SET payload = '{}' WHERE seq = 1",
        "DELETE FROM events",
        "DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)",
        "INSERT OR REPLACE INTO events (seq, type, entity_id, payload, at, prev_hash, hash) "
        "SELECT seq, 'forged', entity_id, payload, at, prev_hash, hash FROM events WHERE seq = 1",
        "REPLACE INTO events (seq, type, entity_id, payload, at, prev_hash, hash) "
        "VALUES (1, 'forged', 'x', '{}', 'now', 'x', 'x')",
    ])
    def test_event_log_is_append_only(self, store: Store, db_path: Path, sql: str) -> None:
        """Rewriting or removing an event is refused by the database itself."""
        wallet.credit(store, "alice", Money(100, "USD"))
        wallet.credit(store, "bob", Money(100, "USD"))
        before = list(store.read.events())
        if isinstance(db_path, LedgerUrl):
            if "REPLACE" in sql:
                sql = "TRUNCATE events CASCADE"  # PostgreSQL's way round row triggers
            with Store(str(db_path)) as other, pytest.raises(psycopg.Error, match="append-only"):
                other.conn.execute(sql)  # type: ignore[attr-defined]
        else:
            conn = sqlite3.connect(db_path)
            try:
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    conn.execute(sql)
                conn.rollback()
            finally:
                conn.close()
        assert list(store.read.events()) == before


REQUEST = ChargeRequest(payment_id=f"pay_{'a' * 24}", amount="12.50", currency="USD",
                        user_id="alice", correlation_id=f"pay_{'a' * 24}",
                        idempotency_key=f"paycli-pay_{'a' * 24}", metadata={})
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> HttpGateway:
    """An HTTP gateway client whose every request goes to `handler`."""
    return HttpGateway("http://gateway.test", CANARY, 1.0, transport=httpx.MockTransport(handler))


def answering(status: int, body: bytes | str, headers: dict[str, str] | None = None) -> Handler:
    """A handler giving every request the same answer."""
    content = body.encode() if isinstance(body, str) else body
    return lambda request: httpx.Response(status, content=content, headers=headers)


def padded(size: int) -> str:
    """A valid approved answer of about `size` bytes."""
    return json.dumps({"externalId": "ext_1", "status": "approved", "message": "x" * size})


# The stored bodies (`fixtures/gateway_bad_answers.json`), then those made here: bytes that
# are not UTF-8, and bodies whose size is what matters.
BAD_ANSWERS: dict[str, str | bytes] = {
    **load_fixture("gateway_bad_answers.json")["charge"],
    "invalid-utf8": b'{"externalId": "\xff\xfe", "status": "approved"}',
    "deeply-nested": "[" * 100_000 + "]" * 100_000,
    "huge-body": padded(MAX_BODY_BYTES + 1),
}
BAD_REFUND_ANSWERS: dict[str, str] = {
    **load_fixture("gateway_bad_answers.json")["refund"],
    "huge-body": json.dumps({"externalId": "ext_1", "status": "refunded",
                             "message": "x" * (MAX_BODY_BYTES + 1)}),
}


class TestHostileGatewayAnswers:
    @pytest.mark.parametrize("body", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
    def test_bad_charge_answer_is_a_gateway_failure(self, body: str | bytes) -> None:
        """An answer paycli cannot trust is a failure that may have charged (sent=True)."""
        with pytest.raises(GatewayFailure) as caught:
            client(answering(200, body)).charge(REQUEST)
        assert caught.value.sent and CANARY not in str(caught.value)

    @pytest.mark.parametrize("body", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
    def test_bad_lookup_answer_is_a_gateway_failure(self, body: str | bytes) -> None:
        """Look-ups refuse the same answers (status by reference and by payment id)."""
        gateway = client(answering(200, body))
        with pytest.raises(GatewayFailure):
            gateway.status("ext_1")
        with pytest.raises(GatewayFailure):
            gateway.find_payment(REQUEST.payment_id)

    @pytest.mark.parametrize("body", BAD_REFUND_ANSWERS.values(), ids=BAD_REFUND_ANSWERS.keys())
    def test_bad_refund_answer_is_a_gateway_failure(self, body: str) -> None:
        """A refund answer paycli cannot trust is a failure, never a refund."""
        with pytest.raises(GatewayFailure):
            client(answering(200, body)).refund("ext_1", "1.00", "test", "paycli-ref_1")

    def test_huge_body_without_length_is_cut_off(self) -> None:
        """A streamed answer without Content-Length is still refused past 64 KiB."""
        def chunks() -> Iterator[bytes]:
            yield b'{"externalId": "ext_1", "status": "approved", "message": "'
            for _ in range(1_000):
                yield b"x" * 1024
            yield b'"}'

        handler: Handler = lambda request: httpx.Response(200, content=chunks())  # noqa: E731
        with pytest.raises(GatewayFailure, match="too large"):
            client(handler).charge(REQUEST)

    def test_unexpected_fields_are_ignored(self) -> None:
        """Fields paycli does not read (the status answer has many) change nothing."""
        body = json.dumps({"externalId": "ext_1", "status": "declined", "approved": True,
                           "amount": "999999", "paymentId": "pay_other", "extra": {"a": [1]}})
        answer = client(answering(200, body)).charge(REQUEST)
        assert (answer.externalId, answer.status) == ("ext_1", "declined")  # type: ignore[union-attr]

    def test_redirect_is_not_followed(self) -> None:
        """A redirect is neither followed (the key stays with the gateway) nor an answer."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(307, headers={"Location": "http://evil.test/steal"})

        with pytest.raises(GatewayFailure):
            client(handler).charge(REQUEST)
        assert [r.url.host for r in seen] == ["gateway.test"]

    def test_transport_errors_say_whether_the_request_was_sent(self) -> None:
        """A refused connection is unsent; a read timeout may have charged."""
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        def stall(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("stalled", request=request)

        with pytest.raises(GatewayFailure) as refused:
            client(refuse).charge(REQUEST)
        with pytest.raises(GatewayFailure) as stalled:
            client(stall).charge(REQUEST)
        assert (refused.value.sent, stalled.value.sent) == (False, True)

    def test_key_travels_only_in_its_header(self) -> None:
        """The key is in X-API-Key and nowhere else: not the URL, not the body."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            status = "refunded" if request.url.path == "/payment/refund" else "approved"
            return httpx.Response(200, json={"externalId": "ext_1", "status": status})

        gateway = client(handler)
        gateway.charge(REQUEST)
        gateway.status("ext_1")
        gateway.refund("ext_1", "1.00", "test", "paycli-ref_1")
        assert len(seen) == 3
        for request in seen:
            assert request.headers["x-api-key"] == CANARY
            assert CANARY not in str(request.url) and CANARY.encode() not in request.content

    @pytest.mark.parametrize("status", [200, 401])
    def test_echoed_key_is_redacted(self, status: int) -> None:
        """A gateway that echoes the key in its message does not get it shown."""
        def handler(request: httpx.Request) -> httpx.Response:
            key = request.headers["x-api-key"]
            return httpx.Response(status, json={"externalId": "ext_1", "status": "declined",
                                                "message": f"no, {key}", "error": f"no, {key}"})

        try:
            answer: object = client(handler).charge(REQUEST)
        except GatewayConfigError as refused:  # a 401 refuses the key: configuration error
            assert status == 401
            answer = refused.message
        assert CANARY not in repr(answer) and "no, " in repr(answer)


def saga_env(store: Store, handler: Handler) -> saga.SagaEnv:
    """A saga environment whose gateway is the HTTP client over `handler`."""
    return saga.SagaEnv(store, gateway=lambda: client(handler), resilience=lambda on: Resilience(
        BreakerStore(on), failures=10, reset_s=30, attempts=3, attempt_timeout_s=1,
        backoff_s=0.001, max_backoff_s=0.002))


def junk_then_nothing(body: str) -> Handler:
    """Charges get `body`; look-ups find no charge (404)."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, content=body.encode())
        return httpx.Response(404, json={"error": "unknown payment"})

    return handler


class TestSagaAgainstHostileGateway:
    @pytest.mark.parametrize("body", [BAD_ANSWERS["status-number"], BAD_ANSWERS["huge-body"],
                                      BAD_ANSWERS["html"]], ids=["types", "huge", "html"])
    def test_payment_fails_cleanly_and_releases_the_hold(self, store: Store, body: str) -> None:
        """Garbage answers, then no charge found: FAILED (exit 5), the hold released."""
        wallet.credit(store, "alice", Money(100_00, "USD"))
        request = saga.PayRequest("alice", Money(12_50, "USD"), wait_s=0)
        outcome = saga.pay(saga_env(store, junk_then_nothing(body)), request, SilentReporter())
        assert outcome.result.status == "FAILED" and outcome.error is not None
        assert outcome.error.exit_code == 5
        account = store.read.account("wallet", "alice", "USD")
        assert account is not None and (account.balance, account.held) == (100_00, 0)

    def test_unknown_outcome_is_kept_then_recovered(self, store: Store) -> None:
        """Garbage answers and look-ups keep the hold (exit 10) until `recover` releases it."""
        wallet.credit(store, "alice", Money(100_00, "USD"))
        request = saga.PayRequest("alice", Money(12_50, "USD"), wait_s=0)
        junk = answering(200, BAD_ANSWERS["external-id-number"])
        outcome = saga.pay(saga_env(store, junk), request, SilentReporter())
        assert outcome.result.status == "PROCESSING" and outcome.error is not None
        assert outcome.error.exit_code == 10
        result = recovery.recover(saga_env(store, junk_then_nothing(""))).to_json()
        assert result["resolved"] == [{"payment_id": outcome.result.payment_id,
                                       "status": "FAILED"}]
        account = store.read.account("wallet", "alice", "USD")
        assert account is not None and (account.balance, account.held) == (100_00, 0)

    def test_echoed_key_never_reaches_the_ledger(self, store: Store, db_path: Path) -> None:
        """A decline whose message echoes the key is stored and shown without it."""
        def echo(request: httpx.Request) -> httpx.Response:
            key = request.headers["x-api-key"]
            return httpx.Response(200, json={"externalId": "ext_1", "status": "declined",
                                             "message": f"declined for key {key}"})

        wallet.credit(store, "alice", Money(100_00, "USD"))
        request = saga.PayRequest("alice", Money(12_50, "USD"), wait_s=0)
        outcome = saga.pay(saga_env(store, echo), request, SilentReporter())
        assert outcome.result.status == "FAILED"
        assert "declined for key" in json.dumps(outcome.result.to_json())
        assert CANARY not in json.dumps(outcome.result.to_json())
        store.close()
        if isinstance(db_path, LedgerUrl):
            assert CANARY.encode() not in server_ledger_text(db_path)
        for path in () if isinstance(db_path, LedgerUrl) else (db_path, Path(f"{db_path}-wal")):
            if path.exists():
                assert CANARY.encode() not in path.read_bytes()
