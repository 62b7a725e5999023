"""The pending countdown (`poll N, waiting up to S s more`) stays true while paycli waits
between look-ups: it is told the time left at least every half second, not only at each
look-up (which back off to 2 s apart)."""

from __future__ import annotations

import itertools
import time
from typing import Any

from paycli.gateway.protocol import Answer
from paycli.saga.calls import COUNTDOWN_S, poll


class AlwaysPending:
    """A gateway whose charge never settles."""

    def status(self, external_id: str) -> Answer:
        return Answer(externalId=external_id, status="pending")


def test_the_time_left_is_never_stale() -> None:
    """Over a 5 s wait, every report of the time left is within half a second of the
    truth when made, reports are never more than ~half a second apart, and the time left
    falls while the poll numbers rise."""
    started = time.monotonic()
    deadline = started + 5.0
    seen: list[tuple[float, int, float]] = []
    pending = Answer(externalId="ext_1", status="pending")
    poll(AlwaysPending(), pending, deadline,  # type: ignore[arg-type]
         lambda number, left: seen.append((time.monotonic(), number, left)))
    times = [at for at, _, _ in seen]
    assert max(b - a for a, b in itertools.pairwise(times)) <= COUNTDOWN_S + 0.25
    assert all(abs((deadline - at) - left) < 0.05 for at, _, left in seen)
    lefts: list[Any] = [left for _, _, left in seen]
    assert lefts == sorted(lefts, reverse=True)
    numbers = [number for _, number, _ in seen]
    assert numbers == sorted(numbers) and numbers[0] == 1
