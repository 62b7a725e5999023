"""A ledger written by the release before reasons and step codes (`fixtures/ledgers/
release-0.ledger`, made by `make_release_ledger.py` with that release's code) still opens,
replays, answers its idempotency keys and shows its payments; and because the books hold
facts, not `--json` shapes, renaming a result model's field breaks none of that.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result as ClickResult
from conftest import CliCall, count_events, fixture_path
from pydantic import ValidationError

from paycli.ledger import wallet
from paycli.results import messages
from paycli.results.base import Result


@pytest.fixture
def release(db_path: Path) -> Path:
    """A copy of the release's ledger at `db_path` (opening it may migrate it)."""
    shutil.copyfile(fixture_path("ledgers/release-0.ledger"), db_path)
    return db_path


def stored_row(path: Path, sql: str, *args: str) -> tuple[Any, ...]:
    """One row of the ledger at `path`, read with plain SQLite."""
    conn = sqlite3.connect(path)
    try:
        row = conn.execute(sql, args).fetchone()
    finally:
        conn.close()
    assert row is not None, (sql, args)
    return tuple(row)


def key_of(path: Path, key: str) -> str:
    """The entity an idempotency key of the ledger made."""
    return str(stored_row(path, "SELECT entity_id FROM idempotency WHERE key = ?", key)[0])


def as_json(done: ClickResult) -> Any:
    """A command's `--json` output, parsed."""
    return json.loads(done.output)


CREDIT = ("wallet", "credit", "--user", "alice", "--amount", "100", "--currency", "USD",
          "--idempotency-key", "credit-1", "--json")


class TestTheReleaseLedgerStillWorks:
    def test_replay_finds_it_consistent(self, cli: CliCall, release: Path) -> None:
        """Its events rebuild its tables exactly, and its hash chain holds."""
        done = cli("replay-events", "--json")
        assert done.exit_code == 0, done.output
        found = as_json(done)
        assert (found["consistent"], found["chain_ok"], found["mismatches"]) == (True, True, [])

    def test_a_credit_key_answers_as_it_first_did(self, cli: CliCall, release: Path) -> None:
        """Repeating the release's credit key answers what the release stored beside it,
        rebuilt from the transfer, and moves nothing."""
        first = json.loads(stored_row(release, "SELECT result FROM idempotency WHERE key = ?",
                                      "credit-1")[0])
        before = count_events(release)
        done = cli(*CREDIT)
        assert done.exit_code == 0, done.output
        assert as_json(done) == first
        assert count_events(release) == before

    def test_a_pay_key_answers_with_its_payment(self, cli: CliCall, release: Path) -> None:
        """Repeating the release's pay key gives its payment as it now stands, steps
        included, and charges nothing again."""
        done = cli("pay", "--user", "alice", "--amount", "30", "--idempotency-key", "pay-ok",
                   "--json")
        assert done.exit_code == 0, done.output
        found = as_json(done)
        assert found["payment_id"] == key_of(release, "pay-ok")
        assert found["status"] == "PARTIALLY_REFUNDED" and found["balance"] == "75.00"
        assert [step["name"] for step in found["steps"]][-1] == "SettlePayment"

    def test_a_refund_key_answers_with_its_refund(self, cli: CliCall, release: Path) -> None:
        """Repeating the release's refund key gives its refund, COMPLETED."""
        done = cli("refund", key_of(release, "pay-ok"), "--amount", "5", "--reason", "damaged",
                   "--idempotency-key", "refund-1", "--json")
        assert done.exit_code == 0, done.output
        assert as_json(done)["refund_id"] == key_of(release, "refund-1")
        assert as_json(done)["status"] == "COMPLETED"

    def test_payments_show_keeps_its_sentences(self, cli: CliCall, release: Path) -> None:
        """A failure the release stored as a sentence is shown as it was written, in the
        human view and in `--json`, in the error and the timeline alike."""
        declined = key_of(release, "pay-declined")
        found = as_json(cli("payments", "show", declined, "--json"))
        assert found["error"] == {"type": "declined",
                                  "message": "declined by the gateway: declined"}
        assert found["events"][-1]["changes"]["error_message"] == (
            "declined by the gateway: declined")
        human = cli("payments", "show", declined)
        assert human.exit_code == 0 and "declined by the gateway: declined" in human.output

    def test_an_old_unknown_outcome_gets_every_way_to_finish_it(self, release: Path) -> None:
        """`recover`'s advice for a saga the release left unknown drops the release's
        "run recover" ending and names every way to finish it."""
        lost = key_of(release, "pay-lost")
        stored = str(stored_row(release, "SELECT error_message FROM payments WHERE id = ?",
                                lost)[0])
        assert stored.endswith(messages.RUN_RECOVER)
        advice = messages.still_unfinished("payment", lost, stored)
        assert advice.startswith("outcome unknown: the gateway's answer was lost")
        assert "the hold is kept; retry `paycli recover`" in advice
        assert f"`paycli payments resolve {lost} --approved|--declined" in advice


class RenamedCredit(Result):
    """`wallet credit` as a later contract might have it: `transaction_id` renamed."""

    user: str
    currency: str
    amount: str
    balance: str
    transfer_id: str


def renamed_credit(**fields: Any) -> RenamedCredit:
    """What building `wallet credit`'s answer becomes once the field is renamed."""
    fields["transfer_id"] = fields.pop("transaction_id")
    return RenamedCredit(**fields)


class TestARenamedResultField:
    @pytest.fixture
    def renamed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The contract of `wallet credit` with its field renamed."""
        monkeypatch.setattr(wallet, "WalletCredit", renamed_credit)

    def test_old_and_new_keys_still_answer(self, cli: CliCall, release: Path,
                                           renamed: None) -> None:
        """A key the release stored, and one stored now, both answer in the renamed
        shape: nothing kept beside a key depends on the model's fields."""
        old = cli(*CREDIT)
        assert old.exit_code == 0, old.output
        assert as_json(old)["transfer_id"] == key_of(release, "credit-1")
        assert "transaction_id" not in as_json(old)
        args = ("wallet", "credit", "--user", "bob", "--amount", "2", "--idempotency-key",
                "credit-2", "--json")
        first, again = cli(*args), cli(*args)
        assert (first.exit_code, again.exit_code) == (0, 0)
        assert as_json(again) == as_json(first)
        assert as_json(again)["transfer_id"] == key_of(release, "credit-2")

    def test_the_release_would_have_broken(self, release: Path) -> None:
        """The `--json` object the release kept beside its key does not fit the renamed
        model: reading it back, as the release did, would have failed."""
        kept = stored_row(release, "SELECT result FROM idempotency WHERE key = ?", "credit-1")
        with pytest.raises(ValidationError):
            RenamedCredit.model_validate(json.loads(kept[0]))

    def test_old_events_still_replay_and_show(self, cli: CliCall, release: Path,
                                              renamed: None) -> None:
        """With the field renamed, the old events and those written now still replay
        consistently, and the release's payments still show."""
        assert cli("wallet", "credit", "--user", "bob", "--amount", "2", "--idempotency-key",
                   "credit-2", "--json").exit_code == 0
        replayed = cli("replay-events", "--json")
        assert replayed.exit_code == 0 and as_json(replayed)["consistent"] is True
        shown = cli("payments", "show", key_of(release, "pay-down"), "--json")
        assert shown.exit_code == 0, shown.output
        assert as_json(shown)["error"]["message"] == (
            "gateway unavailable: gateway error (HTTP 503) after 1 attempt(s); "
            "nothing was charged")
