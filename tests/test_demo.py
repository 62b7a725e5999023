"""`paycli demo` runs the seed system's scenarios to its summary, all as expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import paycli_env, run


class TestDemo:
    @pytest.mark.slow
    def test_fast_demo_behaves_as_expected_end_to_end(self, tmp_path: Path) -> None:
        """Every scenario behaves as expected, the summary says so, and it exits 0; with
        --db the ledger is kept and verifies."""
        db = tmp_path / "demo.db"
        done = run(db, "demo", "--fast", env=paycli_env(), timeout=180)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
        assert "All 22 scenarios behaved as expected." in done.stdout
        for scenario in ("Pay 5,000 USD", "A declined card", "the breaker opens",
                         "half-open probe", "A pending charge that settles",
                         "charged once", "Partial refund", "replay-events"):
            assert scenario in done.stdout
        assert f"The ledger is kept at {db}" in done.stdout.replace("\n", "")
        replayed = run(db, "replay-events", "--json")
        assert replayed.returncode == 0 and '"consistent": true' in replayed.stdout

    @pytest.mark.slow
    def test_no_heading_stands_over_nothing(self, tmp_path: Path) -> None:
        """Every `== heading` of `demo --fast` has a line under it before the next one
        (the credit, the repeated order, the billing run, replay-events say their result)."""
        done = run(tmp_path / "demo.db", "demo", "--fast", env=paycli_env(), timeout=180)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
        sections = done.stdout.split("\n== ")[1:]
        empty = [section.splitlines()[0] for section in sections
                 if not [line for line in section.splitlines()[1:] if line.strip()]]
        assert len(sections) >= 15 and not empty, empty
        assert "already paid: pay_" in done.stdout
