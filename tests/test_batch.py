"""`paycli batch FILE`: a billing run with the guarantees of `pay --order-id` for every row,
against the mock gateway: rows accounted for, balances exact, bad rows reported by line
without stopping the others, and a second run (or one after kill -9) charging nobody twice.
"""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CliCall
from helpers import check_invariants, paycli_env, run, run_json, spawn, wallet

from paycli.ledger.wallet import credit
from paycli.money import Money
from paycli.store import Store

HEADER = "user,amount,currency,order_id\n"


def csv_file(path: Path, rows: list[str]) -> Path:
    """A billing file with the contract's header and `rows`."""
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def fund(cli: CliCall, env: dict[str, str], *users: str, amount: str = "1000") -> None:
    """Credit each user's USD wallet with `amount`."""
    for user in users:
        assert cli("wallet", "credit", "--user", user, "--amount", amount,
                   env=env).exit_code == 0


def batch(cli: CliCall, env: dict[str, str], path: Path, *args: str) -> tuple[int, Any]:
    """`paycli batch PATH ARGS --json`: exit code and summary."""
    result = cli("batch", str(path), *args, "--json", env=env)
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


class TestARun:
    def test_every_row_paid_then_all_skipped(self, cli: CliCall, env: dict[str, str],
                                             gateway: Any, tmp_path: Path,
                                             db_path: Path) -> None:
        """Three rows completed, balances exact, the ledger replays; run again: all three
        skipped, no new gateway request, exit 0."""
        fund(cli, env, "ann", "bob")
        path = csv_file(tmp_path / "run.csv", ["ann,10.50,,o-1", "bob,20,USD,o-2",
                                              "ann,1,usd,o-3"])
        code, first = batch(cli, env, path)
        assert code == 0, first
        assert (first["rows"], first["completed"], first["failed"], first["skipped"]) == (
            3, 3, 0, 0)
        assert wallet(db_path, "ann") == (100000 - 1150, 0)
        assert wallet(db_path, "bob") == (100000 - 2000, 0)
        requests = gateway.requests()
        code, second = batch(cli, env, path)
        assert code == 0 and (second["skipped"], second["completed"]) == (3, 0)
        assert gateway.requests() == requests
        assert cli("replay-events", env=env).exit_code == 0
        assert len(gateway.charges()) == 3

    def test_json_lines_with_exact_numbers(self, cli: CliCall, env: dict[str, str],
                                           gateway: Any, tmp_path: Path,
                                           db_path: Path) -> None:
        """JSON Lines, amounts as JSON numbers read exactly (0.30 is 30 cents)."""
        fund(cli, env, "ann")
        path = tmp_path / "run.jsonl"
        path.write_text('{"user": "ann", "amount": 0.30, "order_id": "j-1"}\n\n'
                        '{"user": "ann", "amount": "2", "currency": "USD", "order_id": "j-2"}\n')
        code, out = batch(cli, env, path)
        assert code == 0, out
        assert (out["format"], out["completed"]) == ("jsonl", 2)
        assert wallet(db_path, "ann") == (100000 - 230, 0)

    def test_the_human_view(self, cli: CliCall, env: dict[str, str], gateway: Any,
                            tmp_path: Path) -> None:
        """A one-line summary with the counts."""
        fund(cli, env, "ann")
        result = cli("batch", str(csv_file(tmp_path / "r.csv", ["ann,1,,h-1"])), env=env)
        assert result.exit_code == 0, result.output
        shown = " ".join(result.stdout.split())
        assert "1 row in" in shown and "1 completed, 0 failed" in shown


class TestRowsThatFail:
    def test_bad_rows_are_reported_by_line_and_the_rest_run(
            self, cli: CliCall, env: dict[str, str], gateway: Any, tmp_path: Path) -> None:
        """Bad amount, bad user, missing order id, a repeated order id, too few fields:
        each failed with its line (the header is line 1); the good rows complete."""
        fund(cli, env, "ann")
        path = csv_file(tmp_path / "run.csv", [
            "ann,1,,ok-1", "ann,abc,,bad-amount", "ann bob,1,,bad-user", "ann,1,,",
            "ann,2,,ok-1", "ann,1", "ann,3,,ok-2"])
        code, out = batch(cli, env, path)
        assert code == 2
        assert (out["completed"], out["failed"]) == (2, 5)
        lines = {failure["line"]: failure["error"] for failure in out["failures"]}
        assert sorted(lines) == [3, 4, 5, 6, 7]
        assert "invalid amount 'abc'" in lines[3] and "invalid user id" in lines[4]
        assert "invalid order id" in lines[5] and "first on line 2" in lines[6]
        assert "expected 4 fields" in lines[7]

    def test_the_most_serious_code_wins(self, cli: CliCall, env: dict[str, str],
                                        gateway: Any, tmp_path: Path,
                                        db_path: Path) -> None:
        """Insufficient funds (3) and a bad row (2): exit 3; nothing held."""
        fund(cli, env, "ann", amount="5")
        path = csv_file(tmp_path / "run.csv", ["ann,4,,a-1", "ann,4,,a-2", "ann,x,,a-3"])
        code, out = batch(cli, env, path)
        assert code == 3 and out["error"]["type"] == "insufficient_funds"
        assert "2 of 3 rows did not complete" in out["error"]["message"]
        assert wallet(db_path, "ann") == (100, 0)

    def test_declines_release_their_holds(self, cli: CliCall, env: dict[str, str],
                                          gateway: Any, tmp_path: Path,
                                          db_path: Path) -> None:
        """The gateway declines: every row failed with exit 4, no money moved."""
        fund(cli, env, "ann")
        gateway.set_mode("decline")
        code, out = batch(cli, env, csv_file(tmp_path / "r.csv", ["ann,1,,d-1", "ann,2,,d-2"]))
        assert code == 4 and out["failed"] == 2
        assert wallet(db_path, "ann") == (100000, 0)

    def test_limits_fail_their_rows(self, cli: CliCall, env: dict[str, str], gateway: Any,
                                    tmp_path: Path) -> None:
        """A daily count of 2: the third row of the day exits 12, the others complete."""
        fund(cli, env, "ann")
        assert cli("limits", "set", "--user", "ann", "--daily-count", "2").exit_code == 0
        code, out = batch(cli, env, csv_file(tmp_path / "r.csv",
                                             ["ann,1,,l-1", "ann,1,,l-2", "ann,1,,l-3"]),
                          "--concurrency", "1")
        assert code == 12 and (out["completed"], out["failed"]) == (2, 1)
        assert out["failures"][0]["line"] == 4

    @pytest.mark.parametrize("suffix", ["csv", "jsonl"])
    def test_failures_file_holds_the_rows_to_run_again(
            self, cli: CliCall, env: dict[str, str], gateway: Any, tmp_path: Path,
            suffix: str) -> None:
        """--failures writes the rows that did not complete, in the input's format, 0600;
        fixed and run again they complete."""
        fund(cli, env, "ann")
        if suffix == "csv":
            path = csv_file(tmp_path / "run.csv", ["ann,1,,f-1", "ann,1.001,,f-2"])
        else:
            path = tmp_path / "run.jsonl"
            path.write_text('{"user": "ann", "amount": "1", "order_id": "f-1"}\n'
                            '{"user": "ann", "amount": "1.001", "order_id": "f-2"}\n')
        retry = tmp_path / f"retry.{suffix}"
        code, out = batch(cli, env, path, "--failures", str(retry))
        assert code == 2 and out["failures_file"] == str(retry)
        assert stat.S_IMODE(retry.stat().st_mode) == 0o600
        written = retry.read_text()
        assert "f-2" in written and "f-1" not in written
        if suffix == "csv":
            assert written.splitlines()[0] == HEADER.strip()
        retry.write_text(written.replace("1.001", "1.5"))
        code, again = batch(cli, env, retry)
        assert code == 0 and again["completed"] == 1


@pytest.mark.slow
@pytest.mark.sqlite_only
class TestTheSeedMix:
    def test_ten_thousand_rows_against_the_seed_mix(self, tmp_path: Path, db_path: Path
                                                    ) -> None:
        """10,000 rows against the mock in mode `seed` (approvals, declines, pending,
        errors): every row accounted for, balances exact, the ledger replays; run again:
        no new charge, every completed row skipped and every failed one failed again
        (with its reason: nothing charged)."""
        from paycli.devtools.mock_process import MockGatewayProcess

        with MockGatewayProcess("test-api-key", "--mode", "seed", "--seed", "7",
                                "--latency-ms", "1000") as mock:
            env = paycli_env(mock.url, PAYCLI_RETRY_ATTEMPTS="1",
                             PAYCLI_BREAKER_FAILURES="1000000")
            users = [f"u{n}" for n in range(50)]
            with Store(str(db_path)) as store:
                for user in users:
                    credit(store, user, Money(10**8, "USD"))
            path = csv_file(tmp_path / "run.csv", [
                f"{users[n % 50]},{1 + n % 997}.{n % 100:02d},,s-{n}" for n in range(10_000)])
            done = run(db_path, "batch", str(path), "--concurrency", "16", "--json", env=env,
                       timeout=900)
            code, out = done.returncode, json.loads(done.stdout)
            assert out["rows"] == 10_000, out
            assert out["completed"] + out["failed"] + out["unknown"] + out["skipped"] == 10_000
            assert out["completed"] > 6000 and out["failed"] > 500
            assert code in (4, 5, 10)
            counts = check_invariants(db_path, mock.charges(), mock.refunds(), settled=False)
            assert counts.get("COMPLETED", 0) == out["completed"]
            assert run(db_path, "replay-events", env=env).returncode == 0
            requests = mock.requests()
            again = json.loads(run(db_path, "batch", str(path), "--json", env=env,
                                   timeout=900).stdout)
            assert again["skipped"] == out["completed"] + out["skipped"]
            assert out["failed"] <= again["failed"] <= out["failed"] + out["unknown"]
            assert again["completed"] <= out["unknown"]  # only what was left PROCESSING
            assert mock.requests() - requests <= again["unknown"]


@pytest.mark.slow
@pytest.mark.sqlite_only
class TestKilled:
    def test_killed_at_random_instants_then_run_again(self, tmp_path: Path, db_path: Path,
                                                      gateway: Any) -> None:
        """A 400-row run SIGKILLed at 20 random instants, run again each time, then to the
        end and `recover`: every row completed once, the gateway's charges are exactly
        the completed payments, nothing held."""
        env = paycli_env(gateway.url)
        assert run(db_path, "wallet", "credit", "--user", "ann", "--amount", "100000",
                   env=env).returncode == 0
        path = csv_file(tmp_path / "run.csv", [f"ann,{1 + n % 50},,k-{n}" for n in range(400)])
        chance = random.Random(2026)
        for _ in range(20):
            child = spawn(db_path, "batch", str(path), "--json", env=env)
            time.sleep(chance.uniform(0.2, 1.5))
            os.kill(child.pid, signal.SIGKILL)
            child.communicate()
        code, out = run_json(db_path, "batch", str(path), env=env)
        assert code == 0, out
        assert out["completed"] + out["skipped"] == 400
        assert run(db_path, "recover", env=env).returncode == 0
        counts = check_invariants(db_path, gateway.charges(), gateway.refunds())
        assert counts == {"COMPLETED": 400}
        assert wallet(db_path, "ann")[1] == 0
