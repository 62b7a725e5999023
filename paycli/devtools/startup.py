"""How long paycli takes to start, beside a bare Typer app (`paycli bench`'s start-up
figures).

Each command runs in a new interpreter, as an operator's shell starts it, a few times in
turn with the bare app; the median of each is kept. paycli's `--help` is set beside the
bare app's `--help`, and `wallet balance` (start-up, a ledger opened, one read) beside the
bare app running its one command.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from paycli.devtools.report import Startup

BARE_APP = """
import typer

app = typer.Typer()


@app.command()
def balance(user: str = "nobody") -> None:
    print(user)


app()
"""


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                   env={**os.environ, "NO_COLOR": "1"})
    return (time.perf_counter() - started) * 1000


def measure(db: str, user: str, runs: int = 5) -> Startup:
    """Start-up times of paycli and of the bare app, `runs` each, interleaved."""
    paycli = [sys.executable, "-m", "paycli"]
    bare = [sys.executable, "-c", BARE_APP]
    commands = {
        "help": [*paycli, "--help"],
        "balance": [*paycli, "--db", db, "wallet", "balance", "--user", user],
        "bare_help": [*bare, "--help"],
        "bare_balance": [*bare, "--user", user],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(_timed(argv))
    median = {name: statistics.median(values) for name, values in times.items()}
    bare_ms = statistics.median(times["bare_help"] + times["bare_balance"])
    return Startup(help_ms=round(median["help"], 1), balance_ms=round(median["balance"], 1),
                   bare_typer_ms=round(bare_ms, 1),
                   help_ratio=round(median["help"] / median["bare_help"], 2),
                   balance_ratio=round(median["balance"] / median["bare_balance"], 2))
