"""The books hold facts and `results.messages` words them: what a saga stores (failure
reasons, step records, idempotency keys) holds codes and domain values, never a sentence or
a `--json` object; the catalogue turns each code into the text the operator reads, and an
earlier version's sentence is shown as it was written.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from doubles import ScriptedGateway, saga_env

from paycli.ledger import wallet
from paycli.money import parse_amount
from paycli.results import messages
from paycli.saga import pay as saga
from paycli.saga.steps import SilentReporter
from paycli.store import Store

ROOT = Path(__file__).resolve().parent.parent


def settle_event(store: Store, payment_id: str) -> dict[str, Any]:
    """The payload of the event that ended a payment's saga."""
    events = [json.loads(event.payload) for event in store.read.events_of(payment_id)]
    return next(payload for payload in reversed(events) if "steps" in payload)


def pay(store: Store, mode: str, amount: str = "5") -> str:
    """Credit alice and pay `amount` against a gateway in `mode`; the payment's id."""
    gateway = ScriptedGateway()
    gateway.set_mode(mode)
    wallet.credit(store, "alice", parse_amount("50", "USD"))
    outcome = saga.pay(saga_env(store, gateway, attempts=1),
                       saga.PayRequest("alice", parse_amount(amount, "USD"), wait_s=0.0),
                       SilentReporter())
    assert outcome.result.payment_id is not None
    return outcome.result.payment_id


class TestWhatIsStored:
    def test_a_failure_is_kept_as_a_reason(self, store: Store) -> None:
        """A declined payment's row and settle event keep the reason's code and the
        gateway's words, and the result shows the sentence made from them."""
        payment_id = pay(store, "decline")
        payment = store.read.payment(payment_id)
        assert payment is not None
        reason = messages.read_reason(payment.error_message)
        assert reason is not None and reason["code"] == "declined"
        assert settle_event(store, payment_id)["changes"]["error_message"] == (
            payment.error_message)
        assert messages.error_text(payment.error_message).startswith("declined by the gateway")

    def test_step_records_hold_codes_and_values(self, store: Store) -> None:
        """The settle event's step records carry name, status, attempts, duration and a
        detail code with domain values (amounts in minor units), no sentence."""
        payment_id = pay(store, "approve")
        steps = {step["name"]: step for step in settle_event(store, payment_id)["steps"]}
        assert steps["CheckWalletBalance"]["detail"] == {
            "code": "available", "amount": 5000, "currency": "USD"}
        assert steps["SettlePayment"]["detail"] == {"code": "hold_posted"}
        assert steps["ProcessPayment"]["detail"]["code"] == "approved"
        for step in steps.values():  # a step with nothing to tell keeps no detail
            assert set(step) <= {"name", "status", "attempts", "duration_ms", "detail"}
            assert isinstance(step.get("detail", {}), dict)

    def test_a_credit_key_keeps_no_answer(self, store: Store) -> None:
        """A keyed credit's idempotency row names its transfer and keeps no `--json`
        object."""
        done = wallet.credit(store, "alice", parse_amount("5", "USD"), key="k-1")
        row = store.read.idempotency("k-1")
        assert row is not None
        assert (row["entity_id"], row["result"]) == (done.transaction_id, None)
        assert wallet.credit(store, "alice", parse_amount("5", "USD"), key="k-1") == done

    def test_the_spool_imports_no_result_model(self) -> None:
        """`store.spool` keeps findings without knowing the models they are."""
        tree = ast.parse((ROOT / "paycli/store/spool.py").read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module}
        assert not any(name.startswith("paycli.results") for name in imported)


class TestTheWords:
    @pytest.mark.parametrize(("reason", "text"), [
        ({"code": "gateway_unavailable", "failure": "gateway error (HTTP 503)",
          "attempts": 3, "nothing": "charged"},
         "gateway unavailable: gateway error (HTTP 503) after 3 attempt(s); "
         "nothing was charged"),
        ({"code": "breaker_open", "attempts": 0, "nothing": "charged", "last_failure": None},
         "gateway unavailable: the circuit breaker is open (too many consecutive failures); "
         "no call was made"),
        ({"code": "breaker_open", "attempts": 2, "nothing": "refunded",
          "last_failure": "timeout"},
         "gateway unavailable: 2 attempts made, the last failed with timeout, and the circuit "
         "breaker opened, so no further call was made; nothing was refunded"),
        ({"code": "outcome_unknown", "why": {"code": "still_pending"}, "kept": "hold",
          "finish": "recover"},
         "outcome unknown: still pending at the gateway; the hold is kept, run "
         "`paycli recover`"),
        ({"code": "outcome_unknown", "why": {"code": "no_lookup_by_id"},
          "kept": "reservation", "finish": "reconcile"},
         "outcome unknown: the gateway cannot look charges up by payment id; the reservation "
         "is kept" + messages.RUN_RECONCILE),
        ({"code": "approved", "gateway_ref": "ext_1", "attempt": 3, "attempts": 3,
          "failures": [["gateway error (HTTP 503)", 2]], "pending_s": None},
         "approved (ext_1) on attempt 3/3 after 2 \N{MULTIPLICATION SIGN} gateway error "
         "(HTTP 503)"),
        ({"code": "available", "amount": 1050, "currency": "USD", "over_limit": True},
         "available 10.50 USD; over a limit"),
        ({"code": "declined_in_report", "source": "report.csv", "line": 4},
         "declined by the gateway, as the gateway's settlement report (report.csv line 4) "
         "shows"),
    ], ids=lambda value: value["code"] if isinstance(value, dict) else "")
    def test_a_reason_in_words(self, reason: dict[str, Any], text: str) -> None:
        """Each code with its values reads as the operator has always read it."""
        assert messages.render(reason) == text
        assert messages.error_text(messages.stored(reason)) == text

    @pytest.mark.parametrize("value", [
        "declined by the gateway: declined", "{not json", '{"no": "code"}', "[1, 2]"])
    def test_an_earlier_sentence_is_shown_as_written(self, value: str) -> None:
        """A stored value that holds no reason is shown as it is."""
        assert messages.read_reason(value) is None
        assert messages.error_text(value) == value

    def test_an_unknown_code_shows_itself(self) -> None:
        """A code this version has no words for (written by a later one) is shown as its
        code, never an error."""
        assert messages.render({"code": "from_the_future"}) == "from_the_future"

    def test_recover_advice_never_says_run_recover_alone(self) -> None:
        """For an unknown outcome, `recover`'s advice replaces the "run recover" ending
        with every way to finish the saga."""
        stored = messages.stored({"code": "outcome_unknown", "why": {"code": "still_pending"},
                                  "kept": "hold", "finish": "recover"})
        advice = messages.still_unfinished("payment", "pay_1", stored)
        assert advice.startswith("outcome unknown: still pending at the gateway; the hold is "
                                 "kept; retry `paycli recover`")
        assert "`paycli payments resolve pay_1 --approved|--declined --reason …`" in advice
