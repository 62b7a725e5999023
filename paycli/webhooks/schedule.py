"""When a failed delivery is tried again, and when it is given up on.

After failed attempt n (1-based) the next try waits 30 s x 4^(n-1), at most 12 h, plus
up to 30 s of random jitter (so endpoints that fail together are not all retried at the
same instant): 30 s, 2 min, 8 min, 32 min, ~2 h 8 min, ~8 h 32 min, 12 h. The 8th failed
attempt, or any failure 3 days after the event was queued, makes the delivery `dead`.
The waits are tenacity's strategies, read for one attempt number; the caller gives the
time, so a test's clock decides what is due.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tenacity import RetryCallState, Retrying, wait_exponential, wait_random

MAX_ATTEMPTS = 8
MAX_AGE = timedelta(days=3)
FIRST_WAIT = 30.0
GROWTH = 4
LONGEST_WAIT = 12 * 3600.0
JITTER = 30.0

WAIT = wait_exponential(multiplier=FIRST_WAIT, exp_base=GROWTH, max=LONGEST_WAIT) + \
    wait_random(0, JITTER)


def base_wait(attempts: int) -> float:
    """The wait after `attempts` failed attempts, before jitter (seconds)."""
    return float(min(FIRST_WAIT * GROWTH ** (attempts - 1), LONGEST_WAIT))


def next_try(attempts: int, now: datetime) -> datetime:
    """When to try again after `attempts` failed attempts, failing at `now`."""
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = attempts
    return now + timedelta(seconds=WAIT(state))


def gives_up(attempts: int, queued_at: datetime, now: datetime) -> bool:
    """Whether a delivery that just failed its `attempts`-th try is now dead."""
    return attempts >= MAX_ATTEMPTS or now - queued_at >= MAX_AGE
