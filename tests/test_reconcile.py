"""`paycli reconcile`: reading a settlement report, finding every kind of break, and
settling by `--apply` only what is safe, once.

The test shop is built in process with deterministic ids (`pay_…01`, `ref_…01`), so the
sample reports in `fixtures/settlement/` can name its payments; see fixtures/README.md.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CliCall, fixture_path
from doubles import ScriptedGateway, saga_env
from helpers import paycli_env

from paycli.errors import ReportMalformed
from paycli.ledger import postings, wallet
from paycli.ledger.report import read_report
from paycli.money import Money
from paycli.records import PaymentStatus, RefundStatus
from paycli.saga import pay as saga
from paycli.saga import reconcile as reconciling
from paycli.saga import refund as refunds
from paycli.saga.resolve import resolve_payment
from paycli.saga.steps import SilentReporter
from paycli.store import Store

HEADER = "external_id,payment_id,type,status,amount,currency,created_at\n"


def pid(number: int) -> str:
    """The shop's payment id number `number`."""
    return f"pay_{number:024x}"


def rid(number: int) -> str:
    """The shop's refund id number `number`."""
    return f"ref_{number:024x}"


@pytest.fixture
def numbered_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids numbered per prefix (`pay_000…001`), so reports can name them."""
    counters: defaultdict[str, Iterator[int]] = defaultdict(lambda: itertools.count(1))
    monkeypatch.setattr(postings, "new_id",
                        lambda prefix: f"{prefix}_{next(counters[prefix]):024x}")


def _pay(store: Store, gateway: ScriptedGateway, minor: int) -> str:
    request = saga.PayRequest(user="alice", money=Money(minor, "USD"), wait_s=0)
    return str(saga.pay(saga_env(store, gateway), request, SilentReporter()).result.status)


def _refund(store: Store, gateway: ScriptedGateway, payment_id: str, amount: str) -> str:
    request = refunds.RefundRequest(payment_id, amount, "test")
    outcome = refunds.refund(saga_env(store, gateway), request, SilentReporter(), 10**6)
    return str(outcome.result.status)


@pytest.fixture
def shop(store: Store, numbered_ids: None) -> ScriptedGateway:
    """alice: 1000.00 USD; pay_01 50.00 COMPLETED (ext_1), pay_02 20.00 FAILED (declined,
    ext_2), pay_03 30.00 with ref_01 10.00 refunded (ext_3, rf_4)."""
    gateway = ScriptedGateway()
    wallet.credit(store, "alice", Money(100000, "USD"))
    assert _pay(store, gateway, 5000) == PaymentStatus.COMPLETED
    gateway.set_mode("approve", ["decline"])
    assert _pay(store, gateway, 2000) == PaymentStatus.FAILED
    assert _pay(store, gateway, 3000) == PaymentStatus.COMPLETED
    assert _refund(store, gateway, pid(3), "10") == RefundStatus.COMPLETED
    return gateway


@pytest.fixture
def stuck(store: Store, shop: ScriptedGateway) -> ScriptedGateway:
    """The shop, and stuck PROCESSING: pay_04 40.00 (charged, answer lost: ext_5), pay_05
    15.00 (gateway unreachable) and ref_02, 5.00 of pay_01 (gateway unreachable)."""
    shop.lookup = False  # the seed's: a lost answer cannot be looked up
    shop.set_mode("approve", ["lost"])
    assert _pay(store, shop, 4000) == PaymentStatus.PROCESSING
    shop.set_mode("approve", ["hang", "hang"])
    assert _pay(store, shop, 1500) == PaymentStatus.PROCESSING
    shop.set_mode("approve", ["hang", "hang"])
    assert _refund(store, shop, pid(1), "5") == RefundStatus.PROCESSING
    shop.set_mode("approve")
    return shop


def run(store: Store, report: str, apply: bool = False) -> dict[str, Any]:
    """Reconcile the ledger with a fixture report; the contract's object, every break."""
    lines = fixture_path(f"settlement/{report}").read_text().splitlines(keepends=True)
    done = reconciling.reconcile(saga_env(store, ScriptedGateway()), lines, report, apply)
    try:
        return done.report().to_json()
    finally:
        done.close()


def kinds(result: dict[str, Any]) -> set[tuple[str, str | None]]:
    """The breaks as (kind, refund or payment id)."""
    return {(b["kind"], b["refund_id"] or b["payment_id"]) for b in result["breaks"]}


def balance(store: Store) -> tuple[int, int]:
    """alice's (balance, held) in cents."""
    account = store.read.account("wallet", "alice", "USD")
    assert account is not None
    return account.balance, account.held


class TestReadingAReport:
    def test_a_malformed_line_is_named(self) -> None:
        """A bad amount stops the read with the report's name and the line, as an editor
        counts it (the header is line 1)."""
        lines = fixture_path("settlement/malformed.csv").read_text().splitlines()
        with pytest.raises(ReportMalformed, match=r"^malformed.csv line 3: invalid amount"):
            list(read_report(lines, "malformed.csv"))

    @pytest.mark.parametrize(("row", "says"), [
        ("ext_1,pay_1,charge,approved,50.00,USD", "expected 7 fields, found 6"),
        ("ext_1,pay_1,payout,approved,50.00,USD,2026-11-29T09:00:00Z", "type 'payout'"),
        ("ext_1,pay_1,charge,refund_failed,50.00,USD,2026-11-29T09:00:00Z",
         "status 'refund_failed' is not one of a charge's"),
        ("ext_1,pay_1,charge,approved,50.001,USD,2026-11-29T09:00:00Z", "at most 2 decimal"),
        ("ext_1,pay_1,charge,approved,1e3,USD,2026-11-29T09:00:00Z", "invalid amount"),
        ("ext_1,pay_1,charge,approved,-5,USD,2026-11-29T09:00:00Z", "invalid amount"),
        ("ext_1,pay_1,charge,approved,5,XXX,2026-11-29T09:00:00Z", "currency"),
        ("ext_1,pay_1,charge,approved,5,USD,yesterday", "not an ISO-8601 time"),
        (",pay_1,charge,approved,5,USD,2026-11-29T09:00:00Z", "external_id is empty"),
        ("ext\x1b[31m,pay_1,charge,approved,5,USD,2026-11-29T09:00:00Z", "not an identifier"),
    ])
    def test_each_bad_field_is_a_clear_error(self, row: str, says: str) -> None:
        """Every field is checked; the error names the line and what is wrong."""
        with pytest.raises(ReportMalformed) as caught:
            list(read_report([HEADER, row + "\n"], "r.csv"))
        assert caught.value.message.startswith("r.csv line 2: ")
        assert says in caught.value.message
        assert "\x1b" not in caught.value.message

    def test_a_wrong_header_is_refused(self) -> None:
        """Anything but the contract's header is refused on line 1; an empty file too."""
        with pytest.raises(ReportMalformed, match="line 1: expected the header"):
            list(read_report(["id,amount\n"], "r.csv"))
        with pytest.raises(ReportMalformed, match="is empty"):
            list(read_report([], "r.csv"))

    def test_forms_a_spreadsheet_writes_are_read(self) -> None:
        """A byte order mark, CRLF line ends, blank lines, JPY without decimals."""
        lines = ["\ufeff" + HEADER.replace("\n", "\r\n"),
                 "ext_1,pay_1,charge,approved,1000,jpy,2026-11-29T09:00:00+00:00\r\n", "\r\n"]
        [line] = list(read_report(lines, "r.csv"))
        assert (line.amount, line.currency, line.line) == (1000, "JPY", 2)


class TestBreaks:
    def test_a_clean_report_agrees(self, store: Store, shop: ScriptedGateway) -> None:
        """The shop against its own report: everything matches, no break."""
        result = run(store, "clean.csv")
        assert (result["matched"], result["breaks"], result["lines"]) == (4, [], 4)

    def test_the_double_report_agrees_with_its_ledger(self, store: Store,
                                                      shop: ScriptedGateway) -> None:
        """The gateway double's own report (ids it chose) agrees too."""
        lines = shop.settlement_report()
        done = reconciling.reconcile(saga_env(store, shop), lines, "gateway", apply=False)
        try:
            assert (done.matched, done.breaks_left) == (4, 0)
        finally:
            done.close()

    def test_each_kind_of_break_is_found(self, store: Store, shop: ScriptedGateway) -> None:
        """Missing in the ledger, missing at the gateway, status and amount mismatches."""
        result = run(store, "breaks.csv")
        assert kinds(result) == {
            ("missing_in_ledger", pid(0x999)), ("missing_at_gateway", pid(1)),
            ("status_mismatch", pid(2)), ("amount_mismatch", pid(3))}
        amount = next(b for b in result["breaks"] if b["kind"] == "amount_mismatch")
        assert (amount["ledger_amount"], amount["gateway_amount"], amount["line"]) == (
            "30.00", "35.00", 3)
        assert result["matched"] == 1  # the refund
        assert result["counts"] == {"amount_mismatch": 1, "missing_at_gateway": 1,
                                    "missing_in_ledger": 1, "status_mismatch": 1}

    def test_stuck_sagas_are_unresolved_without_news(self, store: Store,
                                                     stuck: ScriptedGateway) -> None:
        """PROCESSING payments and refunds the report says nothing final of: unresolved."""
        assert kinds(run(store, "clean.csv")) == {
            ("unresolved", pid(4)), ("unresolved", pid(5)), ("unresolved", rid(2))}

    def test_stuck_sagas_the_report_settles_are_resolvable(self, store: Store,
                                                          stuck: ScriptedGateway) -> None:
        """Without --apply they are listed as resolvable, and nothing changes."""
        before = balance(store)
        result = run(store, "resolvable.csv")
        assert kinds(result) == {
            ("resolvable", pid(4)), ("resolvable", pid(5)), ("resolvable", rid(2))}
        assert result["resolved"] == [] and balance(store) == before


class TestApply:
    def test_settles_each_as_the_report_says(self, store: Store, stuck: ScriptedGateway
                                             ) -> None:
        """Approved posts the hold, declined voids it, refunded credits the wallet: alice
        ends at 1000 - 50 - 30 + 10 - 40 + 5 = 895.00, nothing held."""
        result = run(store, "resolvable.csv", apply=True)
        assert {(r["refund_id"] or r["payment_id"], r["status"]) for r in result["resolved"]} == {
            (pid(4), "COMPLETED"), (pid(5), "FAILED"), (rid(2), "COMPLETED")}
        assert result["breaks"] == []
        assert balance(store) == (89500, 0)
        payment = store.read.payment(pid(4))
        assert payment is not None and payment.gateway_ref == "ext_5"

    def test_the_event_cites_the_report_line(self, store: Store, stuck: ScriptedGateway
                                             ) -> None:
        """The settle event carries the report's name, the line, the external id and the
        gateway's status."""
        run(store, "resolvable.csv", apply=True)
        event = store.read.events_of(pid(4))[-1]
        cited = json.loads(event.payload)["reconciliation"]
        assert cited == {"source": "resolvable.csv", "line": 6, "external_id": "ext_5",
                         "gateway_status": "approved"}

    def test_a_second_run_has_nothing_to_do(self, store: Store, stuck: ScriptedGateway
                                            ) -> None:
        """Run twice: the second settles nothing, writes no event, finds no break."""
        run(store, "resolvable.csv", apply=True)
        events = store.read.event_count()
        again = run(store, "resolvable.csv", apply=True)
        assert (again["resolved"], again["breaks"], again["matched"]) == ([], [], 7)
        assert store.read.event_count() == events

    def test_never_changes_a_final_state(self, store: Store, shop: ScriptedGateway) -> None:
        """A report that contradicts final states changes none of them."""
        events = store.read.event_count()
        result = run(store, "breaks.csv", apply=True)
        assert result["resolved"] == [] and store.read.event_count() == events
        payment = store.read.payment(pid(2))
        assert payment is not None and payment.status == PaymentStatus.FAILED

    def test_one_settled_meanwhile_is_compared_again(self, store: Store,
                                                     stuck: ScriptedGateway) -> None:
        """Resolved by hand between the comparison and the settling: not overwritten;
        declined by hand while the report says approved is a status mismatch."""
        lines = fixture_path("settlement/resolvable.csv").read_text().splitlines()
        env = saga_env(store, ScriptedGateway())
        done = reconciling.reconcile(env, lines, "r.csv", apply=False)
        try:
            resolve_payment(env, pid(4), approved=False, reason="support said so")
            reconciling._apply(env, done.spool, "r.csv")
            after = done.report().to_json()
        finally:
            done.close()
        assert ("status_mismatch", pid(4)) in kinds(after)
        payment = store.read.payment(pid(4))
        assert payment is not None and payment.status == PaymentStatus.FAILED


class TestTheCommand:
    def test_breaks_exit_8_with_the_report(self, store: Store, shop: ScriptedGateway,
                                           cli: CliCall) -> None:
        """--json prints the report and the error; exit 8."""
        result = cli("reconcile", "--report", str(fixture_path("settlement/breaks.csv")),
                     "--json")
        assert result.exit_code == 8, result.output
        printed = json.loads(result.stdout)
        assert printed["error"]["type"] == "reconcile_breaks"
        assert {"matched", "resolved", "breaks"} <= printed.keys()
        assert len(printed["breaks"]) == 4

    def test_a_clean_report_exits_0(self, store: Store, shop: ScriptedGateway,
                                    cli: CliCall) -> None:
        """The human view says all agree; exit 0."""
        result = cli("reconcile", "--report", str(fixture_path("settlement/clean.csv")))
        assert result.exit_code == 0, result.output
        assert "matched: 4" in result.stdout
        assert "no break left" in result.stdout

    def test_the_human_view_says_what_to_do(self, store: Store, stuck: ScriptedGateway,
                                            cli: CliCall) -> None:
        """Each kind of break comes with its advice; the error line counts them."""
        result = cli("reconcile", "--report", str(fixture_path("settlement/resolvable.csv")))
        assert result.exit_code == 8
        assert "resolvable: 3" in result.stdout and "--apply" in result.stdout
        assert "3 breaks left: 3 resolvable" in result.stderr

    def test_a_malformed_report_writes_nothing(self, store: Store, stuck: ScriptedGateway,
                                               cli: CliCall) -> None:
        """Exit 2, one line naming the line, and nothing settled."""
        events = store.read.event_count()
        result = cli("reconcile", "--report", str(fixture_path("settlement/malformed.csv")),
                     "--apply")
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            f"Error: {fixture_path('settlement/malformed.csv')} line 3: invalid amount "
            "'5O.00': expected a positive decimal like 50 or 50.25")
        assert store.read.event_count() == events

    @pytest.mark.parametrize("args", [(), ("--report", "x.csv", "--from-gateway")])
    def test_exactly_one_source(self, cli: CliCall, args: tuple[str, ...]) -> None:
        """Neither or both of --report and --from-gateway: a usage error."""
        result = cli("reconcile", *args)
        assert result.exit_code == 2
        assert "exactly one of --report FILE or --from-gateway" in result.stderr

    @pytest.mark.usefixtures("empty_ledger")
    def test_an_unreadable_report_is_a_usage_error(self, cli: CliCall, tmp_path: Path
                                                   ) -> None:
        """A missing file: one line, exit 2."""
        result = cli("reconcile", "--report", str(tmp_path / "none.csv"))
        assert result.exit_code == 2
        assert "cannot read the report" in result.stderr


# A process forked from a large one keeps its parent's high-water mark of RSS, so the
# pytest worker would count in the child's figure: a small parent in between measures
# only paycli (its children's peak, reported on stderr).
PEAK_OF_CHILD = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
                 "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
                 "file=sys.stderr)")


def reconcile_rss_kib(db: Path, report: Path) -> tuple[int, dict[str, Any]]:
    """Run `paycli reconcile --report` as its own process: its peak RSS (KiB) and output."""
    with (report.with_suffix(".out")).open("w+") as out:
        child = subprocess.run(
            [sys.executable, "-c", PEAK_OF_CHILD, sys.executable, "-m", "paycli", "--db",
             str(db), "reconcile", "--report", str(report), "--json"],
            stdout=out, stderr=subprocess.PIPE, text=True, env=paycli_env(), check=True)
        code, peak = child.stderr.split()[-2:]
        assert code == "0", child.stderr
        out.seek(0)
        return int(peak), json.loads(out.read())


def declined_report(path: Path, lines: int) -> Path:
    """A report of `lines` declined charges for payments the ledger never had: no break."""
    with path.open("w") as out:
        out.write(HEADER)
        for number in range(lines):
            out.write(f"ext_{number},pay_{number + 1:024x}_x,charge,declined,"
                      f"{number % 5000 + 1}.25,USD,2026-11-29T09:00:00Z\n")
    return path


@pytest.mark.slow
@pytest.mark.sqlite_only
class TestABigReport:
    def test_a_million_lines_in_constant_memory(self, tmp_path: Path, db_path: Path) -> None:
        """1,000,000 lines reconcile with the peak memory of 100,000 (within 25 MB), under
        150 MB: the report is streamed through a spool on disk, never held in memory."""
        Store(str(db_path)).close()
        small, _ = reconcile_rss_kib(db_path, declined_report(tmp_path / "s.csv", 100_000))
        big, result = reconcile_rss_kib(db_path, declined_report(tmp_path / "b.csv",
                                                                 1_000_000))
        assert (result["lines"], result["breaks"]) == (1_000_000, [])
        assert big < 150 * 1024, big
        assert big - small < 25 * 1024, (small, big)
