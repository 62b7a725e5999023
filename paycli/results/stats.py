"""Results of `stats` and `events tail`: the operator's view of the ledger."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from paycli.results.base import Result


class Latency(Result):
    """Gateway call time of the window's settled charges (the ProcessPayment step), in
    milliseconds by nearest rank; null when no charge settled in the window."""

    p50: float | None
    p95: float | None
    p99: float | None
    count: int


class RefundFigures(Result):
    """The window's refunds by outcome, and what the completed ones gave back."""

    refunds: int
    completed: int
    failed: int
    processing: int
    volume: dict[str, str]


class Group(Result):
    """One group of `stats --by`: its key (a currency, gateway, status or UTC hour)."""

    key: str
    payments: int
    completed: int
    failed: int
    processing: int
    approval_rate: float | None
    volume: dict[str, str]


class CheckResult(Result):
    """One `--check` rule, the value it was judged on (null: nothing to judge), and
    whether it held."""

    rule: str
    value: float | None
    ok: bool


class Stats(Result):
    """`stats`: the window's figures. `completed` counts every charge the gateway approved
    (refunded since or not); `approval_rate` is completed / (completed + failed)."""

    since: str
    until: str
    payments: int
    completed: int
    failed: int
    processing: int
    approval_rate: float | None
    failed_rate: float | None
    volume: dict[str, str]
    gateway_latency_ms: Latency
    declines: dict[str, int]
    breaker_opens: int
    refunds: RefundFigures
    webhook_breaks: int
    by: str | None = None
    groups: list[Group] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)


class EventLine(Result):
    """One event as `events tail` shows it: its place in the log, when, what, about which
    entity, who wrote it, and a one-line summary built from its data."""

    seq: int
    at: str
    type: str
    id: str
    actor: str | None
    summary: str
    data: dict[str, Any]
