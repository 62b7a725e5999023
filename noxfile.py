"""Developer sessions: `nox -s quick` while working, `nox -s tests lint typecheck` before a
push (what CI runs), `nox -s bench` for the figures."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, slow system tests included."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def quick(session: nox.Session) -> None:
    """Every test not marked `slow`, on SQLite: the loop to run while working (about a
    minute); the PostgreSQL runs and the slow system tests are left to `tests` (CI)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "not slow and not postgresql", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over all the code, then `lint-imports` (the import contracts in pyproject.toml)."""
    session.install("-e", ".[test]")
    session.install("import-linter>=2.1")
    session.run("ruff", "check", "paycli", "tests", "mock_gateway.py", "scripts", "noxfile.py")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy, strict, on the package."""
    session.install("-e", ".[test]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """paycli bench, single and batch, with both gateways, side by side with their raw
    baselines, and `stats` and `top` over a million payments (once); every target with
    its verdict."""
    session.install("-e", ".")
    session.run("paycli", "bench", "--gateway", "inprocess", "--stats-payments", "1000000",
                *session.posargs)
    session.run("paycli", "bench", "--gateway", "http", "--no-startup", "--stats-payments",
                "0", *session.posargs)
    session.run("paycli", "bench", "--mode", "batch", "--payments", "20000", "--no-startup",
                "--stats-payments", "0", *session.posargs)
    session.run("paycli", "bench", "--mode", "batch", "--gateway", "http", "--concurrency",
                "16", "--no-startup", "--stats-payments", "0", *session.posargs)
