"""`paycli listen`: the gateway's signed webhooks, received over HTTP.

One path, `POST /webhooks/gateway`: the body is read up to 64 KiB (413 beyond, counted
as it arrives), verified (`gateway.webhook`: 401, 400) and applied
(`saga.inbound.apply_events`); the answer is 2xx only once the ledger has committed, so a
crash before then leaves the event to the gateway's retry. The ledger work runs on one
thread of its own, which owns the store's connection: writers are one at a time anyway.
Deliveries that arrive while it commits wait together and are applied in the next
transaction, up to `GROUP` of them (a group commit: one fsync for many, each still answered
only after the commit that holds it).

Ctrl-C or SIGTERM (how a service manager stops it) lets the request in hand finish, then
exits 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import typer
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from paycli.cli.common import JsonOption, command, state_of
from paycli.cli.views import listen as views
from paycli.errors import PaycliError, UsageError
from paycli.gateway.webhook import MAX_BODY, GatewayEvent, Refused, Verifier
from paycli.saga.inbound import Applied, NotReady, apply_events
from paycli.store import Store
from paycli.store.hashing import utc_now

ACTOR = "webhook"
PATH = "/webhooks/gateway"
GROUP = 256  # deliveries applied in one transaction at most

Waiting = tuple[GatewayEvent, str, "asyncio.Future[Applied]"]


def register(app: typer.Typer) -> None:
    """Add the `listen` command to the app."""
    app.command("listen")(listen)


@command
def listen(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=0,
                                      max=65535)] = 8765,
    json_output: JsonOption = False,
) -> None:
    """Receive the card gateway's signed webhooks and settle payments and refunds from them.

    Serves POST /webhooks/gateway (Standard Webhooks signatures, secret from
    PAYCLI_WEBHOOK_SECRET or paycli.toml). Each delivery is one line (JSON lines with
    --json or when piped). Ctrl-C or SIGTERM finishes the request in hand and exits 130.

    Example: paycli listen --port 8765
    """
    settings = state_of(ctx).settings
    receiver = Receiver(Verifier(settings.webhook_secret), settings.db, json_output)
    server = Server(uvicorn.Config(receiver.app(), host=host, port=port, log_level="error",
                                   access_log=False, lifespan="off"))
    try:
        server.run()
    finally:
        receiver.close()
    if not server.started:
        raise UsageError(f"cannot listen on {host}:{port} (in use, or not this host's)")
    if server.signalled:
        raise typer.Exit(130)


class Receiver:
    """The one endpoint: read, verify, apply, answer, print a line."""

    def __init__(self, verifier: Verifier, db: str, as_json: bool) -> None:
        self.verifier, self.as_json = verifier, as_json
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        # Opened (made, migrated) before the socket is: a bad --db stops it at once.
        self._store = self._worker.submit(Store, db, actor=ACTOR).result()
        self._lock = threading.Lock()  # guards the two below, shared with the worker
        self._waiting: list[Waiting] = []
        self._draining = False

    def app(self) -> Starlette:
        """The ASGI app: `POST /webhooks/gateway`, nothing else."""
        return Starlette(routes=[Route(PATH, self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        """Answer one delivery (see the module)."""
        received = time.perf_counter()
        line: dict[str, Any] = {"at": utc_now(), "webhook_id": request.headers.get("webhook-id")}
        try:
            event = self.verifier.verify(request.headers, await _body(request))
            line.update(type=event.type)
            applied = await self._apply(event, line["at"])
        except Refused as refused:
            return self._answer(line, refused.status, reason=refused.reason)
        except ClientDisconnect:  # the sender left mid-body: nothing done, it will retry
            return self._answer(line, 400, reason="disconnected")
        except NotReady:
            return self._answer(line, 503, reason="not_ready")
        except PaycliError as exc:
            return self._answer(line, 500, reason=exc.type)
        return self._answer(line, 200, outcome=applied.outcome, entity_id=applied.entity_id,
                            ledger_status=applied.ledger_status,
                            ms=round((time.perf_counter() - received) * 1000, 3))

    def _apply(self, event: GatewayEvent, at: str) -> asyncio.Future[Applied]:
        """The event queued for the ledger thread; resolved once its group committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Applied] = loop.create_future()
        with self._lock:
            self._waiting.append((event, at, done))
            start, self._draining = not self._draining, True
        if start:
            loop.run_in_executor(self._worker, self._drain)
        return done

    def _drain(self) -> None:
        """On the ledger thread: apply what waits, a group at a time, until nothing does.

        Each outcome goes to its own request's loop: a drain may outlive the loop of the
        request that started it (the test client runs a loop per request)."""
        while True:
            with self._lock:
                group, self._waiting = self._waiting[:GROUP], self._waiting[GROUP:]
                if not group:
                    self._draining = False
                    return
            try:
                results: list[Any] = apply_events(self._store, [(e, at) for e, at, _ in group])
            except BaseException as exc:  # a bug or a lost database: each request fails
                results = [exc] * len(group)
            for (_, _, done), result in zip(group, results, strict=True):
                with contextlib.suppress(RuntimeError):  # its loop closed: nobody waits
                    done.get_loop().call_soon_threadsafe(_resolve, done, result)

    def _answer(self, line: dict[str, Any], status: int, **fields: Any) -> Response:
        line = {**line, "status": status, **fields}
        views.delivery_line(line, self.as_json)
        body = {key: value for key, value in fields.items() if key in ("outcome", "reason")}
        return JSONResponse(body, status_code=status)

    def close(self) -> None:
        """Close the ledger (on its own thread) and stop that thread."""
        self._worker.submit(self._store.close).result()
        self._worker.shutdown()


def _resolve(done: asyncio.Future[Applied], result: Applied | BaseException) -> None:
    """Hand a delivery its outcome (on the event loop's thread)."""
    if done.cancelled():  # the request was given up meanwhile
        return
    if isinstance(result, BaseException):
        done.set_exception(result)
    else:
        done.set_result(result)


async def _body(request: Request) -> bytes:
    """The body, refused (413) as soon as it is known to pass `MAX_BODY`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise Refused(413, "too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Refused(413, "too_large")
        chunks.append(chunk)
    return b"".join(chunks)


class Server(uvicorn.Server):
    """uvicorn's server, announcing itself once it accepts connections, and remembering a
    stop by signal instead of raising the signal again after the drain (which would end
    the process without `listen`'s exit code)."""

    signalled = False

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            views.listening_line(str(self.config.host),
                                 self.servers[0].sockets[0].getsockname()[1])

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        stops = (signal.SIGINT, signal.SIGTERM)
        originals = {sig: signal.signal(sig, self._stop) for sig in stops}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    def _stop(self, sig: int, frame: Any) -> None:
        self.signalled = True
        self.handle_exit(sig, frame)
