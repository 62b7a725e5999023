"""Start-up time of whole paycli processes next to a minimal Typer "hello" command.

Run: python benchmarks/startup.py [ROUNDS]. Prints the median wall time of each command over
ROUNDS interleaved runs and its ratio to the hello baseline (target: within 1.3x).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELLO = """
import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    print(f"hello {name}")


app()
"""


def main(rounds: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="paycli-startup-"))
    hello = folder / "hello.py"
    hello.write_text(HELLO)
    env = {**os.environ, "PAYCLI_DB": str(folder / "ledger.db")}
    commands = {
        "typer hello": [sys.executable, str(hello)],
        "paycli --help": [sys.executable, "-m", "paycli", "--help"],
        "paycli wallet balance": [sys.executable, "-m", "paycli", "wallet", "balance", "--user",
                                  "alice"],
        "paycli wallet balance --json": [sys.executable, "-m", "paycli", "wallet", "balance",
                                         "--user", "alice", "--json"],
    }
    subprocess.run(commands["paycli wallet balance"], env=env, capture_output=True, check=True)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, argv in commands.items():
            started = time.perf_counter()
            subprocess.run(argv, env=env, capture_output=True, check=True)
            times[name].append(time.perf_counter() - started)
    base = statistics.median(times["typer hello"])
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:32s} {median * 1000:7.1f} ms  {median / base:5.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
