"""An order's payment attempts (`ledger.orders`): `pay --order-id O --retry` and `batch
--retry-failed` make a new attempt only for an order whose every attempt FAILED, an order
is never charged twice (the ledger itself refuses a second live attempt, on both engines,
from several processes at once), billing-run counts say what each run really did, and
`recover` claims only what it settled itself.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import CliCall
from helpers import check_invariants, paycli_env, run, run_json, spawn

from paycli.ledger.postings import new_id
from paycli.money import Money
from paycli.records import PaymentStatus
from paycli.saga.group import PayRequest, new_payment
from paycli.store import Store

HEADER = "user,amount,currency,order_id\n"


@pytest.fixture
def env(gateway: Any) -> dict[str, str]:
    """paycli's environment: one attempt per gateway call, so an outage fails fast."""
    return paycli_env(gateway.url, PAYCLI_RETRY_ATTEMPTS="1")


def as_json(cli: CliCall, env: dict[str, str], *args: str) -> tuple[int, Any]:
    """`paycli ARGS --json` in-process: the exit code and the parsed object."""
    result = cli(*args, "--json", env=env)
    assert "Traceback" not in result.output, result.output
    return result.exit_code, json.loads(result.stdout)


def fund(cli: CliCall, env: dict[str, str], user: str = "ann", amount: str = "1000") -> None:
    """Credit a user's USD wallet."""
    assert cli("wallet", "credit", "--user", user, "--amount", amount, env=env).exit_code == 0


def pay(cli: CliCall, env: dict[str, str], order: str, *extra: str, amount: str = "10"
        ) -> tuple[int, Any]:
    """`paycli pay --user ann --amount AMOUNT --order-id ORDER EXTRA --json`."""
    return as_json(cli, env, "pay", "--user", "ann", "--amount", amount, "--order-id", order,
                   *extra)


def failed_once(cli: CliCall, env: dict[str, str], gateway: Any, order: str) -> str:
    """An order whose one attempt FAILED in an outage, the gateway back since (and its
    breaker reset); the failed payment's id."""
    gateway.set_mode("down")
    code, out = pay(cli, env, order)
    assert code == 5 and out["status"] == "FAILED", out
    gateway.set_mode("ok")
    assert cli("gateway", "reset", env=env).exit_code == 0
    return str(out["payment_id"])


def attempts(db: Path, order: str) -> list[Any]:
    """The order's payments, oldest first, read straight from the ledger."""
    with Store(str(db)) as store:
        return store.read.attempts_of([order])[order]


def approved(gateway: Any) -> Counter[str]:
    """Approved charges at the gateway, by paycli payment id."""
    return Counter(c["payment_id"] for c in gateway.charges() if c["status"] == "approved")


class TestPayRetry:
    def test_a_failed_order_is_retried_under_a_new_key(
            self, cli: CliCall, env: dict[str, str], gateway: Any, db_path: Path) -> None:
        """Without --retry the failed attempt comes back (exit 5, nothing charged); with
        it a new payment under `order:O#2` completes; both are the order's attempts."""
        fund(cli, env)
        first = failed_once(cli, env, gateway, "o-1")
        requests = gateway.requests()
        code, again = pay(cli, env, "o-1")
        assert (code, again["payment_id"], again["status"]) == (5, first, "FAILED")
        assert gateway.requests() == requests
        code, retried = pay(cli, env, "o-1", "--retry")
        assert code == 0 and retried["status"] == "COMPLETED"
        assert retried["payment_id"] != first
        found = attempts(db_path, "o-1")
        assert [p.id for p in found] == [first, retried["payment_id"]]
        assert [p.idempotency_key for p in found] == ["order:o-1", "order:o-1#2"]
        code, shown = as_json(cli, env, "payments", "show", first)
        assert code == 0 and shown["attempts"] == [first, retried["payment_id"]]
        assert approved(gateway) == {retried["payment_id"]: 1}

    def test_repeating_returns_the_latest_attempt(self, cli: CliCall, env: dict[str, str],
                                                  gateway: Any) -> None:
        """After a retry, the order without --retry means its latest attempt."""
        fund(cli, env)
        failed_once(cli, env, gateway, "o-2")
        _, retried = pay(cli, env, "o-2", "--retry")
        code, again = pay(cli, env, "o-2")
        assert (code, again["payment_id"]) == (0, retried["payment_id"])

    def test_a_completed_order_is_never_charged_again(
            self, cli: CliCall, env: dict[str, str], gateway: Any) -> None:
        """--retry of a COMPLETED order: exit 0, the same payment, no gateway call."""
        fund(cli, env)
        code, first = pay(cli, env, "o-3")
        assert code == 0
        requests = gateway.requests()
        code, again = pay(cli, env, "o-3", "--retry")
        assert (code, again["payment_id"], again["status"]) == (
            0, first["payment_id"], "COMPLETED")
        assert gateway.requests() == requests

    def test_a_processing_order_is_never_charged_again(
            self, cli: CliCall, env: dict[str, str], gateway: Any, db_path: Path) -> None:
        """--retry of an order whose attempt is PROCESSING: exit 10, that attempt, no new
        one."""
        fund(cli, env)
        gateway.set_mode("pending", latency_ms=60_000)
        code, first = pay(cli, env, "o-4", "--wait", "0")
        assert code == 10 and first["status"] == "PROCESSING"
        code, again = pay(cli, env, "o-4", "--retry", "--wait", "0")
        assert (code, again["payment_id"]) == (10, first["payment_id"])
        assert len(attempts(db_path, "o-4")) == 1

    def test_a_retry_asks_for_the_same_payment(self, cli: CliCall, env: dict[str, str],
                                               gateway: Any, db_path: Path) -> None:
        """A retry with another amount is the idempotency conflict it always was (6)."""
        fund(cli, env)
        failed_once(cli, env, gateway, "o-5")
        code, out = pay(cli, env, "o-5", "--retry", amount="11")
        assert code == 6 and out["error"]["type"] == "idempotency_conflict"
        assert len(attempts(db_path, "o-5")) == 1

    @pytest.mark.parametrize("args", [["--retry"],
                                      ["--retry", "--order-id", "o", "--idempotency-key", "k"]])
    def test_retry_needs_an_order_of_its_own_keys(self, cli: CliCall, env: dict[str, str],
                                                  args: list[str]) -> None:
        """--retry without --order-id, or with a key by hand: usage error, nothing written."""
        result = cli("pay", "--user", "ann", "--amount", "1", *args, env=env)
        assert result.exit_code == 2
        assert "--retry needs --order-id" in result.output

    def test_the_step_view_says_which_attempt_and_why(
            self, cli: CliCall, env: dict[str, str], gateway: Any) -> None:
        """The step view of a retry names its attempt, the one it follows and why that one
        failed; `payments show` lists the attempts."""
        fund(cli, env)
        first = failed_once(cli, env, gateway, "o-6")
        result = cli("pay", "--user", "ann", "--amount", "10", "--order-id", "o-6", "--retry",
                     env=env)
        assert result.exit_code == 0, result.output
        assert f"attempt=2 retrying={first} last_failure=" in result.stdout
        shown = cli("payments", "show", first, env=env)
        assert shown.exit_code == 0 and "Attempts" in shown.stdout
        assert f"1. {first} (this one)" in " ".join(shown.stdout.split())


class TestTheLedgerRule:
    def test_a_second_live_attempt_is_refused_by_the_ledger(self, store: Store) -> None:
        """Beside a live attempt the schema's unique index refuses another (whatever key);
        beside a FAILED one it is welcome."""
        request = PayRequest(user="ann", money=Money(100, "USD"), order_id="o-x")
        with store.transaction() as tx:
            failed = new_payment(request, new_id("pay"), "order:o-x", "me", tx.at)
            tx.insert_payments([failed._replace(status=PaymentStatus.FAILED)])
            tx.insert_payments([new_payment(request, new_id("pay"), "order:o-x#2", "me", tx.at)])
        with pytest.raises(Exception, match=r"(?i)unique"), store.transaction() as tx:
            tx.insert_payments([new_payment(request, new_id("pay"), "by-hand", "me", tx.at)])
        assert len(store.read.attempts_of(["o-x"])["o-x"]) == 2


def csv_file(path: Path, rows: list[str]) -> Path:
    """A billing file with the contract's header."""
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def batch(cli: CliCall, env: dict[str, str], path: Path, *args: str) -> tuple[int, Any]:
    """`paycli batch PATH ARGS --json`."""
    return as_json(cli, env, "batch", str(path), *args)


class TestBillingRunAfterAnOutage:
    def test_failed_rows_stay_failed_until_retried(
            self, cli: CliCall, env: dict[str, str], gateway: Any, tmp_path: Path,
            db_path: Path) -> None:
        """Issue 27's first reproduction: gateway down, the run fails every row (exit 5),
        `--failures` lists them in file order. Gateway back: the failures file run again
        counts them failed with the earlier reason (never skipped) and suggests
        --retry-failed; with it every row completes once, each order with two attempts
        (one FAILED), the gateway holding one approved charge per order."""
        fund(cli, env)
        orders = [f"out-{n}" for n in range(6)]
        path = csv_file(tmp_path / "run.csv", [f"ann,{n + 1},,{o}" for n, o in enumerate(orders)])
        failures = tmp_path / "failed.csv"
        gateway.set_mode("down")
        code, out = batch(cli, env, path, "--failures", str(failures), "--concurrency", "4")
        assert code == 5 and out["failed"] == 6
        assert [row.rsplit(",", 1)[1] for row in failures.read_text().splitlines()[1:]] == orders
        assert [f["line"] for f in out["failures"]] == [2, 3, 4, 5, 6, 7]
        gateway.set_mode("ok")
        assert cli("gateway", "reset", env=env).exit_code == 0
        code, again = batch(cli, env, failures)
        assert code == 5 and (again["failed"], again["skipped"], again["completed"]) == (6, 0, 0)
        assert again["retryable"] == 6 and "--retry-failed" in again["error"]["message"]
        assert "failed earlier" in again["failures"][0]["error"]
        assert not gateway.charges() or not approved(gateway)
        code, retried = batch(cli, env, failures, "--retry-failed")
        assert code == 0, retried
        assert (retried["completed"], retried["retried"], retried["failed"]) == (6, 6, 0)
        for order in orders:
            statuses = [p.status for p in attempts(db_path, order)]
            assert statuses == ["FAILED", "COMPLETED"], (order, statuses)
        assert sorted(approved(gateway).values()) == [1] * 6
        check_invariants(db_path, gateway.charges())
        code, done = batch(cli, env, path, "--retry-failed")
        assert code == 0 and (done["skipped"], done["completed"]) == (6, 0)

    def test_the_human_summary_suggests_retry_failed(
            self, cli: CliCall, env: dict[str, str], gateway: Any, tmp_path: Path) -> None:
        """Run again after an outage, the summary names the rows' earlier failure and
        --retry-failed; the retry run says how many rows it retried."""
        fund(cli, env)
        path = csv_file(tmp_path / "run.csv", ["ann,1,,h-1"])
        gateway.set_mode("down")
        assert cli("batch", str(path), env=env).exit_code == 5
        gateway.set_mode("ok")
        assert cli("gateway", "reset", env=env).exit_code == 0
        again = cli("batch", str(path), env=env)
        assert again.exit_code == 5
        assert "1 can be tried again: run the file with --retry-failed" in " ".join(
            again.output.split())
        retried = cli("batch", str(path), "--retry-failed", env=env)
        assert retried.exit_code == 0
        assert "1 retried" in " ".join(retried.stdout.split())


def wait_all(children: list[subprocess.Popen[str]], timeout: float = 120) -> list[Any]:
    """Each child's exit code and parsed `--json` output."""
    outputs = []
    for child in children:
        stdout, stderr = child.communicate(timeout=timeout)
        assert "Traceback" not in stderr, stderr
        outputs.append((child.returncode, json.loads(stdout)))
    return outputs


class TestConcurrency:
    def test_three_runs_of_one_file_add_up_to_its_rows(
            self, env: dict[str, str], gateway: Any, tmp_path: Path, db_path: Path) -> None:
        """Issue 27's third reproduction: the same 80-row file run by three processes at
        once: the completed counts sum to 80 (each row counted by the run whose commit
        completed it), every run accounts for every row, 80 charges."""
        assert run(db_path, "wallet", "credit", "--user", "ann", "--amount", "100000",
                   env=env).returncode == 0
        path = csv_file(tmp_path / "run.csv", [f"ann,{1 + n % 9},,c-{n}" for n in range(80)])
        runs = wait_all([spawn(db_path, "batch", str(path), "--json", env=env)
                         for _ in range(3)])
        assert all(code == 0 for code, _ in runs), runs
        assert sum(out["completed"] for _, out in runs) == 80, runs
        assert all(out["completed"] + out["skipped"] == 80 for _, out in runs), runs
        assert check_invariants(db_path, gateway.charges()) == {"COMPLETED": 80}

    def test_four_retries_of_one_order_make_one_attempt(
            self, cli: CliCall, env: dict[str, str], gateway: Any, db_path: Path) -> None:
        """`pay --retry` of one failed order from four processes at once: one new attempt,
        which every process reports; one approved charge."""
        fund(cli, env)
        first = failed_once(cli, env, gateway, "r-1")
        runs = wait_all([spawn(db_path, "pay", "--user", "ann", "--amount", "10", "--order-id",
                               "r-1", "--retry", "--json", env=env) for _ in range(4)])
        found = attempts(db_path, "r-1")
        assert len(found) == 2 and found[0].id == first
        assert all((code, out["payment_id"]) == (0, found[1].id) for code, out in runs), runs
        assert approved(gateway) == {found[1].id: 1}

    def test_a_retry_racing_recover_makes_no_new_attempt(
            self, cli: CliCall, env: dict[str, str], gateway: Any, db_path: Path) -> None:
        """An attempt left PROCESSING (its charge approved since): `pay --retry` and
        `recover` at once: recover completes it, the retry charges nothing new."""
        fund(cli, env)
        gateway.set_mode("pending", latency_ms=700)
        code, first = pay(cli, env, "rr-1", "--wait", "0")
        assert code == 10
        time.sleep(0.9)
        children = [spawn(db_path, "pay", "--user", "ann", "--amount", "10", "--order-id",
                          "rr-1", "--retry", "--json", env=env),
                    spawn(db_path, "recover", "--json", env=env)]
        (retry_code, retried), (recover_code, _) = wait_all(children)
        assert recover_code == 0 and retry_code in (0, 10)
        assert retried["payment_id"] == first["payment_id"]
        assert [p.status for p in attempts(db_path, "rr-1")] == ["COMPLETED"]
        assert approved(gateway) == {first["payment_id"]: 1}


class TestRecoverClaimsOnlyItsOwn:
    def test_recovers_racing_reconcile_settle_each_payment_once(
            self, cli: CliCall, env: dict[str, str], gateway: Any, db_path: Path) -> None:
        """Issue 27's fourth reproduction: two `recover`s racing `reconcile --apply` over
        PROCESSING payments whose charges the gateway approved since: each payment is
        listed `resolved` by exactly the one command whose commit settled it (one
        `payment.completed` event each); the others list it `settled_elsewhere` or not at
        all."""
        fund(cli, env)
        gateway.set_mode("pending", latency_ms=500)
        ids = []
        for n in range(4):
            code, out = pay(cli, env, f"rc-{n}", "--wait", "0")
            assert code == 10
            ids.append(out["payment_id"])
        time.sleep(0.7)
        runs = wait_all([spawn(db_path, "recover", "--json", env=env),
                         spawn(db_path, "recover", "--json", env=env),
                         spawn(db_path, "reconcile", "--from-gateway", "--apply", "--json",
                               env=env)])
        claimed = Counter(entry["payment_id"] for _, out in runs
                          for entry in out["resolved"])
        assert claimed == dict.fromkeys(ids, 1), runs
        with Store(str(db_path)) as store:
            for payment_id in ids:
                completed = [e for e in store.read.events_of(payment_id)
                             if e.type == "payment.completed"]
                assert len(completed) == 1
        for _, out in runs[:2]:
            assert set(out).issuperset({"resolved", "unresolved", "settled_elsewhere"})

    def test_a_payment_settled_meanwhile_is_not_claimed(
            self, cli: CliCall, env: dict[str, str], gateway: Any, db_path: Path) -> None:
        """recover finding a payment another process settled after recover listed it:
        `settled_elsewhere`, not `resolved` (in-process, so the order is certain)."""
        from paycli.config import Settings
        from paycli.saga.recover import recover_payment
        from paycli.saga.resolve import resolve_payment
        from paycli.saga.wiring import saga_env

        fund(cli, env)
        gateway.set_mode("pending", latency_ms=60_000)
        code, out = pay(cli, env, "sm-1", "--wait", "0")
        assert code == 10
        with Store(str(db_path)) as store:
            listed = store.read.payment(out["payment_id"])
            assert listed is not None and listed.status == PaymentStatus.PROCESSING
            saga = saga_env(store, Settings(env=env))
            resolve_payment(saga, listed.id, True, "the dashboard says approved")
            where, entry = recover_payment(saga, listed)
            saga.close()
        assert (where, entry.status) == ("settled_elsewhere", "COMPLETED")


def test_plain_runs_of_a_file_still_skip_what_completed(
        env: dict[str, str], gateway: Any, tmp_path: Path, db_path: Path) -> None:
    """A file run twice (as separate processes): the second counts every row skipped."""
    assert run(db_path, "wallet", "credit", "--user", "ann", "--amount", "100",
               env=env).returncode == 0
    path = csv_file(tmp_path / "run.csv", ["ann,1,,p-1", "ann,2,,p-2"])
    assert run_json(db_path, "batch", str(path), env=env)[1]["completed"] == 2
    code, again = run_json(db_path, "batch", str(path), env=env)
    assert code == 0 and (again["skipped"], again["completed"]) == (2, 0)


class TestSettlersReportOnlyTheirOwn:
    """Another process settling a payment between a command's look and its commit
    (injected in-process, so the order is certain) is reported as such."""

    def processing(self, cli: CliCall, env: dict[str, str], gateway: Any, order: str) -> str:
        """A payment left PROCESSING, its charge still pending at the gateway."""
        fund(cli, env)
        gateway.set_mode("pending", latency_ms=60_000)
        code, out = pay(cli, env, order, "--wait", "0")
        assert code == 10
        return str(out["payment_id"])

    def test_reconcile_apply_counts_it_settled_elsewhere(
            self, cli: CliCall, env: dict[str, str], gateway: Any, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> None:
        """reconcile --apply whose resolvable payment is resolved by hand first: not in
        `resolved`, counted `settled_elsewhere`."""
        from paycli.saga import reconcile as reconciling
        from paycli.saga.resolve import resolve_payment

        payment_id = self.processing(cli, env, gateway, "se-1")
        gateway.set_mode("ok")
        report = approved_report(tmp_path, gateway, payment_id)
        real = reconciling._settle

        def settled_first(saga: Any, found: Any, cited: dict[str, Any]) -> str:
            resolve_payment(saga, payment_id, True, "the dashboard says approved")
            return real(saga, found, cited)

        monkeypatch.setattr(reconciling, "_settle", settled_first)
        code, out = as_json(cli, env, "reconcile", "--report", str(report), "--apply")
        assert code == 0, out
        assert (out["resolved"], out["settled_elsewhere"]) == ([], 1)

    def test_resolve_says_another_process_settled_it(
            self, cli: CliCall, env: dict[str, str], gateway: Any,
            monkeypatch: pytest.MonkeyPatch) -> None:
        """`payments resolve` racing recover: exit 9, saying another process settled it."""
        from paycli.saga import resolve as resolving
        from paycli.saga.core import Decision, Verdict

        payment_id = self.processing(cli, env, gateway, "se-2")
        real = resolving.settle_payment

        def settled_first(saga: Any, *args: Any, **kwargs: Any) -> Any:
            real(saga, payment_id,
                 Verdict(Decision.REFUSED, None, "declined", {"code": "declined"}), [])
            return real(saga, *args, **kwargs)

        monkeypatch.setattr(resolving, "settle_payment", settled_first)
        result = cli("payments", "resolve", payment_id, "--approved", "--reason", "dashboard",
                     env=env)
        assert result.exit_code == 9
        assert "settled meanwhile by another process (it is FAILED)" in " ".join(
            result.output.split())


def approved_report(folder: Path, gateway: Any, payment_id: str) -> Path:
    """A settlement report saying the payment's charge was approved."""
    charge = next(c for c in gateway.charges() if c["payment_id"] == payment_id)
    path = folder / "report.csv"
    path.write_text("external_id,payment_id,type,status,amount,currency,created_at\n"
                    f"{charge['id']},{payment_id},charge,approved,{charge['amount']},"
                    f"{charge['currency']},2026-12-01T00:00:00Z\n")
    return path
