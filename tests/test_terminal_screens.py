"""Lists and the billing run's bar on a real pseudo-terminal (pexpect) 60, 80 and 120
columns wide: ids and statuses never cut or split, no line wider than the terminal, the
bar's elapsed time and ETA labelled, and the second Ctrl-C acknowledged."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from helpers import run_json
from test_terminal import finish, on_terminal, paid, press_ctrl_c, text

pytestmark = pytest.mark.slow
WIDTHS = [60, 80, 120]
ID = re.compile(r"(?:pay|ref|txn)_[0-9a-f]{24}")


def whole_ids(screen: str) -> set[str]:
    """The ids printed on one line each, whole."""
    return set(ID.findall(text(screen)))


@pytest.fixture
def refunded(funded: Path, env: dict[str, str]) -> dict[str, str]:
    """Two payments by alice, one of them partly refunded: their ids."""
    kept, refunded = paid(funded, env), paid(funded, env)
    code, out = run_json(funded, "refund", refunded, "--amount", "4", "--reason",
                         "the customer asked for part of it back", env=env)
    assert code == 0, out
    return {"kept": kept, "refunded": refunded, "refund": out["refund_id"]}


class TestIdsWholeOnTerminal:
    @pytest.mark.parametrize("columns", WIDTHS)
    def test_lists_and_show_never_cut_an_id_or_a_status(
            self, funded: Path, env: dict[str, str], refunded: dict[str, str],
            columns: int) -> None:
        """`refunds list`, `payments list`, `wallet history` and `payments show`: every id
        and status whole on its line, no line wider than the terminal."""
        ids = set(refunded.values())
        for args, expected, statuses in (
                (("refunds", "list"), {refunded["refund"], refunded["refunded"]},
                 ["COMPLETED"]),
                (("payments", "list"), {refunded["kept"], refunded["refunded"]},
                 ["COMPLETED", "PARTIALLY_REFUNDED"]),
                (("wallet", "history", "--user", "alice"), ids, []),
                (("payments", "show", refunded["refunded"]),
                 {refunded["refund"], refunded["refunded"]},
                 ["PARTIALLY_REFUNDED", "payment.funds_reserved", "payment.refunded"])):
            code, screen = finish(on_terminal(funded, *args, env=env, columns=columns))
            shown = text(screen)
            assert code == 0, shown
            assert expected <= whole_ids(screen), (args, shown)
            for status in statuses:
                assert re.search(rf"(?<![\w.]){re.escape(status)}(?![\w])", shown), (status,
                                                                                    shown)
            assert all(len(line) <= columns for line in shown.splitlines()), shown


class TestBillingBar:
    ROWS = 300

    @pytest.mark.parametrize("columns", WIDTHS)
    def test_the_bar_labels_its_times_and_a_second_ctrl_c_is_acknowledged(
            self, funded: Path, env: dict[str, str], gateway: Any, tmp_path: Path,
            columns: int) -> None:
        """While the run goes: the bar's line says `elapsed` and `ETA` and fits the
        terminal; the first Ctrl-C says the charges at the gateway are waited for, the
        second is acknowledged at once; exit 130."""
        gateway.set_mode("slow", latency_ms=1000)  # the opened rows take seconds to settle
        path = tmp_path / "run.csv"
        path.write_text("user,amount,currency,order_id\n" + "".join(
            f"alice,0.10,USD,bill-{number}\n" for number in range(self.ROWS)))
        child = on_terminal(funded, "batch", str(path), "--concurrency", "4", env=env,
                            columns=columns)
        child.expect(r"elapsed [\d.]+ m?s, ETA ")
        press_ctrl_c(child, "Ctrl-C: no new charges")
        press_ctrl_c(child, "Ctrl-C again: stopping now")
        code, screen = finish(child)
        shown = text(screen)
        assert code == 130, shown
        assert re.search(r"━.* \d+/300 elapsed", shown), shown
        bars = [line for line in re.split(r"[\r\n]", shown) if "elapsed" in line]
        assert bars and all(len(line) <= columns for line in bars), bars
        gateway.set_mode("ok")
