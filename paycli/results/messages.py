"""The words for what the books record: reason codes and their domain values made into the
sentences and advice the operator reads, and the words of a saga step's detail.

The ledger keeps why a payment or refund failed (or is still unknown) as a reason: a JSON
object with a `code` and the values that explain it (`{"code": "gateway_unavailable",
"failure": "gateway error (HTTP 503)", "attempts": 3, "nothing": "charged"}`), never a
sentence. Every reader turns it into text here, when it is shown, so the wording (and the
commands it names) can change without rewriting history.

A saga step's detail is such a reason too (`{"code": "available", "amount": 5000,
"currency": "USD"}`, amounts in minor units): the live view shows it in words, and the step
records an event keeps hold it as it is (`step_detail`).

Invariant: a stored value that is not such an object is a sentence written by an earlier
version of paycli, and is shown as it was written (`error_text`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from paycli.money import format_minor

Reason = dict[str, Any]
TIMES = "\N{MULTIPLICATION SIGN}"  # a count of identical failures: "2 [times] gateway error"

RUN_RECOVER = ", run `paycli recover`"
# ... when asking the gateway again cannot help (it cannot look the charge up): its
# settlement report can tell, or its support can.
RUN_RECONCILE = (", run `paycli reconcile --from-gateway --apply` (or settle it by hand: "
                 "`paycli payments resolve`)")
FINISHERS = {"recover": RUN_RECOVER, "reconcile": RUN_RECONCILE}
KEPT = {"hold": "the hold", "reservation": "the reservation"}
NOTHING = {"charged": "nothing was charged", "refunded": "nothing was refunded",
           "charged_released": "nothing was charged, the hold was released",
           "refunded_released": "nothing was refunded, the reservation was released"}
PAYMENT_NOT_KNOWN = "the payment's outcome is not known yet; run `paycli recover`"
REFUND_NOT_KNOWN = "the refund's outcome is not known yet"
# What the operator can do about a saga `recover` could not finish.
STILL_UNKNOWN = ("; retry `paycli recover` once the gateway can answer (it looks again), "
                 "reconcile with the gateway's settlement report (`paycli reconcile "
                 "--from-gateway --apply`), or settle it by hand from what the gateway's "
                 "support or dashboard says: `paycli {kind}s resolve {id} {choices} "
                 "--reason …`")
CHOICES = {"payment": "--approved|--declined", "refund": "--refunded|--failed"}
IN_PROGRESS = ("held by another process; it is in progress in another paycli process: let "
               "it finish, or run `paycli recover` again once that process is gone")


def _suffix(text: str | None) -> str:
    return f": {text}" if text else ""


def _report(reason: Reason) -> str:
    return f"the gateway's settlement report ({reason['source']} line {reason['line']})"


def _breaker_opened(reason: Reason) -> str:
    made = int(reason["attempts"])
    if made == 0:  # open before the call: it never left the process
        return ("gateway unavailable: the circuit breaker is open (too many consecutive "
                "failures); no call was made")
    last = reason.get("last_failure")
    return (f"gateway unavailable: {made} attempt{'s' if made > 1 else ''} made"
            f"{f', the last failed with {last}' if last else ''}, and the circuit breaker "
            f"opened, so no further call was made; {NOTHING[reason['nothing']]}")


def _outcome_unknown(reason: Reason, finish: bool = True) -> str:
    ending = FINISHERS[reason.get("finish", "recover")] if finish else ""
    return (f"outcome unknown: {render(reason['why'])}; {KEPT[reason.get('kept', 'hold')]} is "
            f"kept{ending}")


def _money(reason: Reason) -> str:
    return f"{format_minor(int(reason['amount']), reason['currency'])} {reason['currency']}"


def _succeeded(reason: Reason) -> str:
    """`approved (ext_1) on attempt 3/3 after 2 [times] gateway error (HTTP 503)`, and how
    long the charge was pending if it was."""
    text = f"{reason['code']} ({reason['gateway_ref']})"
    made, failures, pending_s = reason["attempt"], reason.get("failures"), reason.get("pending_s")
    if made > 1:
        text += f" on attempt {made}/{reason['attempts']}"
    if failures:
        text += " after " + ", ".join(f"{count} {TIMES} {why}" for why, count in failures)
    if pending_s is not None:
        text += f"{', then' if failures else ' after'} {pending_s:.1f} s pending"
    if reason.get("gateway"):
        text += f" at {reason['gateway']}"
    if reason.get("moved_from"):
        text += f" (failed over from {', '.join(reason['moved_from'])})"
    return text


def _failover(reason: Reason) -> str:
    """`primary unavailable (breaker open): failing over to backup, nothing charged`."""
    why = reason.get("why") or {}
    cause = "breaker open" if why.get("code") == "breaker_open" else why.get("failure", "down")
    return (f"{reason['from']} unavailable ({cause}), nothing charged there: failing over "
            f"to {reason['to']}")


_STEPS: dict[str, Callable[[Reason], str]] = {
    "interrupted": lambda r: "stopped by Ctrl-C",
    "available": lambda r: (f"available {_money(r)}"
                            f"{'; over a limit' if r.get('over_limit') else ''}"),
    "refundable": lambda r: f"{_money(r)} refundable",
    "hold_posted": lambda r: "hold posted: the money left the wallet",
    "hold_released": lambda r: "hold released",
    "hold_kept": lambda r: "hold kept until the outcome is known",
    "wallet_credited": lambda r: "wallet credited",
    "reservation_released": lambda r: "reservation released",
    "reservation_kept": lambda r: "reservation kept until the outcome is known",
    "attempt": lambda r: f"attempt {r['attempt']}/{r['attempts']}",
    "retrying": lambda r: (f"attempt {r['attempt']}/{r['attempts']} failed: {r['failure']}; "
                           f"retrying in {r['wait_s']:.2f}s"),
    "approved": _succeeded,
    "refunded": _succeeded,
    "failover": _failover,
    "pending_wait": lambda r: (f"pending at the gateway ({r['gateway_ref']}): waiting up to "
                               f"{r['wait_s']:.0f} s"),
    "pending_poll": lambda r: (f"pending at the gateway ({r['gateway_ref']}): poll {r['poll']}, "
                               f"waiting up to {r['wait_s']:.0f} s more"),
}


RECOVER = "run `paycli recover` to finish it"
_INTERRUPTED: dict[str, Callable[[Reason], str]] = {
    "interrupted_nothing_written": lambda r: "interrupted: nothing was written, no money moved",
    "interrupted_after_end": lambda r: f"interrupted: {r['id']} had already ended {r['status']}",
    "interrupted_payment": lambda r: (
        f"interrupted: {r['id']} is {r['status']} "
        f"{f'with {_money(r)} held' if r['held'] else 'with nothing held yet'}; {RECOVER}"),
    "interrupted_refund": lambda r: (f"interrupted: {r['id']} is {r['status']} with "
                                     f"{_money(r)} reserved on {r['payment_id']}; {RECOVER}"),
}


_TEXTS: dict[str, Callable[[Reason], str]] = {
    **_STEPS,
    **_INTERRUPTED,
    "outcome_unknown": _outcome_unknown,
    "breaker_open": _breaker_opened,
    "gateway_unavailable": lambda r: (f"gateway unavailable: {r['failure']} after "
                                      f"{r['attempts']} attempt(s); {NOTHING[r['nothing']]}"),
    "gateway_config": lambda r: f"{r['error']}; {NOTHING[r['nothing']]}",
    "no_charge_after_lost_answer": lambda r: (
        "gateway unavailable: no answer, and the gateway holds no charge for this payment; "
        "nothing was charged"),
    "no_refund_after_lost_answer": lambda r: (
        "gateway unavailable: no answer, and the gateway shows no such refund"),
    "charge_rejected": lambda r: (f"declined: the gateway rejected the charge (HTTP "
                                  f"{r['http_status']}{_suffix(r.get('gateway_message'))})"),
    "declined": lambda r: f"declined by the gateway{_suffix(r.get('gateway_message'))}",
    "refund_rejected": lambda r: (f"refund refused by the gateway (HTTP {r['http_status']}"
                                  f"{_suffix(r.get('gateway_message'))})"),
    "refund_failed": lambda r: f"the gateway could not refund{_suffix(r.get('gateway_message'))}",
    "no_charge": lambda r: "the gateway holds no charge for this payment; the hold was released",
    "no_such_refund": lambda r: "the gateway shows no such refund",
    "interrupted_before_call": lambda r: (
        "interrupted before the gateway was called" +
        ("; the hold was released" if r.get("released") == "hold" else "")),
    "declined_by_hand": lambda r: f"declined (resolved by hand: {r['reason']})",
    "refund_failed_by_hand": lambda r: f"refund failed (resolved by hand: {r['reason']})",
    "declined_by_webhook": lambda r: "declined by the card gateway (its webhook)",
    "refund_failed_by_webhook": lambda r: "refund failed (the gateway's webhook)",
    "declined_in_report": lambda r: f"declined by the gateway, as {_report(r)} shows",
    "refund_failed_in_report": lambda r: f"the refund failed at the gateway, as {_report(r)} shows",
    "refused": lambda r: str(r["error"]),
    # why an outcome is unknown (inside `outcome_unknown`)
    "answer_lost_then_config": lambda r: f"an answer was lost, then {r['error']}",
    "answer_lost_no_lookup": lambda r: ("the gateway's answer was lost and it cannot look "
                                        "charges up"),
    "answer_lost_lookup_failed": lambda r: ("the gateway's answer was lost and the charge "
                                            f"cannot be looked up ({r['error']})"),
    "pending_then_config": lambda r: f"the charge is pending and {r['error']}",
    "refunded_elsewhere": lambda r: ("the gateway shows this charge refunded, by a refund "
                                     "paycli did not make"),
    "still_pending": lambda r: "still pending at the gateway",
    "no_lookup_by_id": lambda r: "the gateway cannot look charges up by payment id",
    "not_asked": lambda r: f"the gateway could not be asked ({r['failure']})",
    "not_asked_config": lambda r: f"the gateway could not be asked: {r['error']}",
    "no_gateway_ref": lambda r: "the payment has no gateway reference",
    "answer_lost_charge_forgotten": lambda r: ("the gateway's answer was lost and it no longer "
                                               "knows the charge"),
    "answer_lost_no_refund_list": lambda r: ("the gateway's answer was lost and it lists no "
                                             "refunds"),
    "refunded_amount_unaccounted": lambda r: ("the gateway shows the charge refunded by an "
                                              "amount paycli cannot account for"),
    "refunded_amount_unknown": lambda r: ("the gateway shows the charge refunded but not by how "
                                          "much, and this payment has had other refunds"),
    "unexpected_error": lambda r: f"the charge ended in an unexpected error ({r['error']})",
}


def render(reason: Reason) -> str:
    """The sentence for a reason (its code itself if no sentence is known for it)."""
    text = _TEXTS.get(str(reason.get("code")))
    return text(reason) if text is not None else str(reason.get("code"))


def step_detail(value: Reason | str | None) -> str:
    """A step's detail in words: a reason's sentence, or the text an earlier version kept."""
    if isinstance(value, dict):
        return render(value)
    return value or ""


def stored(reason: Reason) -> str:
    """A reason as the books keep it: JSON with sorted keys."""
    return json.dumps(reason, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def read_reason(value: str | None) -> Reason | None:
    """The reason a stored value holds; None if it holds none (nothing, or a sentence of an
    earlier version)."""
    if not value or not value.startswith("{"):
        return None
    try:
        found = json.loads(value)
    except ValueError:
        return None
    return found if isinstance(found, dict) and "code" in found else None


def error_text(value: str | None) -> str | None:
    """What the operator reads for a stored error: its reason's sentence, or the sentence an
    earlier version stored, as it is."""
    reason = read_reason(value)
    return render(reason) if reason is not None else value


def still_unfinished(kind: str, row_id: str, value: str | None) -> str:
    """Why a saga `recover` could not finish is still unfinished, and every way to finish
    it (never "run recover" alone)."""
    reason = read_reason(value)
    if reason is not None and reason.get("code") == "outcome_unknown":
        message = _outcome_unknown(reason, finish=False)
    else:
        message = error_text(value) or "outcome unknown"
        for finish in FINISHERS.values():  # an earlier version's sentence ends with one
            message = message.removesuffix(finish)
    return message + STILL_UNKNOWN.format(kind=kind, id=row_id, choices=CHOICES[kind])
