"""Developer sessions: `nox -s tests`, `nox -s lint typecheck`, `nox -s bench`."""

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
def lint(session: nox.Session) -> None:
    """ruff over the package, the mock gateway and the tests."""
    session.install("ruff")
    session.run("ruff", "check", "paycli", "tests", "mock_gateway.py", "benchmarks", "scripts",
                "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy, strict, on the package."""
    session.install("-e", ".[test]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """paycli bench with both gateways, side by side with their raw baselines."""
    session.install("-e", ".")
    session.run("paycli", "bench", "--gateway", "inprocess", *session.posargs)
    session.run("paycli", "bench", "--gateway", "http", *session.posargs)
