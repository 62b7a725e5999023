"""Structured JSON log lines (`--log-file`), one object per line.

Each line carries `at`, `event` and the fields given; the payment or refund id goes in
`correlation_id`. Callers never pass secrets: the gateway API key is not a field anywhere.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any, TextIO

from paycli.errors import UsageError


class JsonLog:
    """Appends JSON lines to a file; does nothing when no file is configured."""

    def __init__(self, path: str | None) -> None:
        self._handle: TextIO | None = None
        if path:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            except OSError as exc:
                raise UsageError(f"--log-file {path}: cannot open it ({exc.strerror})") from None
            self._handle = os.fdopen(fd, "a", encoding="utf-8")

    @property
    def enabled(self) -> bool:
        """Whether lines are written (a file is configured): callers skip building them
        otherwise."""
        return self._handle is not None

    def __call__(self, event: str, **fields: Any) -> None:
        """Write one line: `{"at": ..., "event": event, **fields}`."""
        if self._handle is None:
            return
        line = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event,
                **fields}
        self._handle.write(json.dumps(line, default=str) + "\n")
        self._handle.flush()

    def close(self) -> None:
        """Close the file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
