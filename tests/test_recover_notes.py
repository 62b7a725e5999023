"""`recover`'s human view says why each payment or refund it finished ended as it did,
not only "resolved"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paycli.cli.views.recover import recovered
from paycli.results.recover import RecoveredEntry, RecoverReport

PAYMENT, REFUND = "pay_" + "1" * 24, "ref_" + "2" * 24


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A console 200 columns wide (the console is made per width, so this is a new one)."""
    monkeypatch.setenv("COLUMNS", "200")
    yield


@pytest.mark.parametrize(("entry", "note"), [
    (RecoveredEntry(payment_id=PAYMENT, status="COMPLETED"),
     "finished: the gateway approved the charge; the hold was posted"),
    (RecoveredEntry(payment_id=PAYMENT, status="FAILED"),
     "finished: the gateway has no approved charge; the hold was released"),
    (RecoveredEntry(payment_id=PAYMENT, refund_id=REFUND, status="COMPLETED"),
     "finished: the gateway refunded it; the wallet was credited"),
    (RecoveredEntry(payment_id=PAYMENT, refund_id=REFUND, status="FAILED"),
     "finished: the gateway did not refund it; the reservation was released"),
])
def test_a_finished_entry_gives_its_reason(entry: RecoveredEntry, note: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Each finished payment or refund's row says what the gateway said and what that
    did to the money."""
    recovered(RecoverReport(resolved=[entry], unresolved=[], settled_elsewhere=[]))
    [row] = [line for line in capsys.readouterr().out.splitlines() if entry.status in line]
    assert note in row and (entry.refund_id or entry.payment_id) in row
    assert "│ resolved" not in row
