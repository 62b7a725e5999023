"""The mock gateway announces itself: one line on stderr, printed only once its socket
accepts connections, so a script can wait for that line instead of polling `/health`."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from gateway_server import REPO_ROOT

READY = re.compile(
    r"mock gateway listening on http://(127\.0\.0\.1:\d+) \(mode (\S+), protocol (full|seed)\)")


class MockProcess:
    """`python mock_gateway.py --port 0 ARGS` with its stderr read line by line."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "mock_gateway.py", "--port", "0", *args], cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until_ready(self, timeout: float = 10.0) -> tuple[re.Match[str], list[str]]:
        """The ready line's match, and the lines written before it."""
        before: list[str] = []
        while True:
            line = self.lines.get(timeout=timeout)
            assert line is not None, f"exited without a ready line: {before}"
            found = READY.fullmatch(line)
            if found:
                return found, before
            before.append(line)

    def stop(self) -> list[str]:
        """Stop the process; the lines it wrote since the last read."""
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        rest = []
        while (line := self.lines.get(timeout=5)) is not None:
            rest.append(line)
        assert self.process.stderr is not None
        self.process.stderr.close()
        return rest


@contextmanager
def mock_process(*args: str) -> Iterator[MockProcess]:
    """A running mock gateway process, stopped afterwards."""
    mock = MockProcess(*args)
    try:
        yield mock
    finally:
        if mock.process.poll() is None:
            mock.stop()


class TestReadyLine:
    def test_printed_once_the_socket_accepts(self) -> None:
        """The line (the first and only thing on stderr) names the real address, even
        with --port 0, and the mode; the gateway answers at once, with no retry, the
        moment the line is read."""
        with mock_process("--mode", "decline") as mock:
            found, before = mock.until_ready()
            assert before == [] and found.group(2) == "decline" and found.group(3) == "full"
            assert httpx.get(f"http://{found.group(1)}/health", timeout=2).status_code == 200
            assert mock.stop() == []

    def test_printed_exactly_once_even_with_uvicorns_log(self) -> None:
        """With --verbose (uvicorn logs at info level) the contract's line still appears
        exactly once."""
        with mock_process("--verbose") as mock:
            found, before = mock.until_ready()
            assert found.group(2) == "ok"
            httpx.get(f"http://{found.group(1)}/health", timeout=2)
            after = mock.stop()
        assert not any(READY.search(line) for line in before + after)

    def test_names_the_seed_protocol(self) -> None:
        """With --protocol seed the line says so."""
        with mock_process("--protocol", "seed", "--mode", "flaky", "--count", "2") as mock:
            found, _ = mock.until_ready()
            assert found.group(2, 3) == ("flaky", "seed")
