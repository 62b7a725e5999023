"""`stats --check` rules and the durations the operator's commands take (`--since 24h`).

A rule is `NAME OP NUMBER`, where NAME is one of `stats`' figures (`approval_rate`,
`failed_rate`, `p50_ms`, `p95_ms`, `p99_ms`, `payments`, `failed`, `processing`,
`breaker_opens`, `webhook_breaks`) or `processing_older_than=DURATION` (payments still
unfinished after that long), and OP one of `>= <= == != > <`. A rule whose figure has
nothing to judge (no payment decided, no charge timed) holds: no traffic is not an
outage.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import NamedTuple

from paycli.errors import ChecksFailed, UsageError
from paycli.results.stats import CheckResult, Stats

_RULE = re.compile(r"(?P<name>[a-z0-9_]+)(?:=(?P<arg>\d+[smhd]))?"
                   r"(?P<op>>=|<=|==|!=|>|<)(?P<number>\d+(?:\.\d+)?)")
_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
    ">": operator.gt, "<": operator.lt,
}
STUCK = "processing_older_than"
FIGURES: dict[str, Callable[[Stats], float | None]] = {
    "approval_rate": lambda s: s.approval_rate,
    "failed_rate": lambda s: s.failed_rate,
    "p50_ms": lambda s: s.gateway_latency_ms.p50,
    "p95_ms": lambda s: s.gateway_latency_ms.p95,
    "p99_ms": lambda s: s.gateway_latency_ms.p99,
    "payments": lambda s: s.payments,
    "failed": lambda s: s.failed,
    "processing": lambda s: s.processing,
    "breaker_opens": lambda s: s.breaker_opens,
    "webhook_breaks": lambda s: s.webhook_breaks,
}


class Rule(NamedTuple):
    """One parsed rule; `older_than_s` is set for `processing_older_than=DURATION`."""

    text: str
    name: str
    op: str
    number: float
    older_than_s: float | None


def parse_duration(text: str, option: str = "--since") -> float:
    """`30s`, `10m`, `24h` or `7d` in seconds; anything else is a usage error."""
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match[1]) == 0:
        raise UsageError(f"invalid {option} {text!r}: expected a duration like 30s, 10m, "
                         "24h or 7d")
    return int(match[1]) * _UNIT_S[match[2]]


def parse_rule(text: str) -> Rule:
    """A `--check` rule, or a usage error naming what is wrong with it."""
    match = _RULE.fullmatch(text.replace(" ", ""))
    names = ", ".join([*FIGURES, f"{STUCK}=DURATION"])
    if not match:
        raise UsageError(f"invalid --check {text!r}: expected NAME OP NUMBER like "
                         f"approval_rate>=0.9 (NAME one of {names})")
    name, arg = match["name"], match["arg"]
    if (name == STUCK) != (arg is not None) or (name != STUCK and name not in FIGURES):
        raise UsageError(f"invalid --check {text!r}: unknown figure {name!r} (one of {names})")
    older = parse_duration(arg, "--check duration") if arg else None
    return Rule(text, name, match["op"], float(match["number"]), older)


def judge(rule: Rule, value: float | None) -> CheckResult:
    """Whether `value` meets `rule` (a rule with nothing to judge holds)."""
    ok = value is None or _OPS[rule.op](value, rule.number)
    return CheckResult(rule=rule.text, value=value, ok=ok)


def figure(rule: Rule, stats: Stats) -> float | None:
    """The figure `rule` names, from `stats` (not `processing_older_than`)."""
    return FIGURES[rule.name](stats)


def failure(checks: list[CheckResult]) -> ChecksFailed | None:
    """The error naming every rule that failed, or None when all held."""
    failed = [check for check in checks if not check.ok]
    if not failed:
        return None
    named = "; ".join(f"{check.rule} (is {check.value:g})" for check in failed
                      if check.value is not None)
    return ChecksFailed(f"check failed: {named}")
