"""Results of `recover`: the payments and refunds it finished, and those still open."""

from __future__ import annotations

from typing import Any

from pydantic import SerializerFunctionWrapHandler, model_serializer

from paycli.results.base import Result


class RecoveredEntry(Result):
    """A payment (or a refund, with its `refund_id`) that `recover` looked at; `reason`
    says why an unresolved one is still unfinished. Absent fields are left out."""

    payment_id: str
    refund_id: str | None = None
    status: str
    reason: str | None = None

    @model_serializer(mode="wrap")
    def _without_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        return {key: value for key, value in dumped.items() if value is not None}


class RecoverReport(Result):
    """`recover`: `resolved` what this run's own commits settled, `settled_elsewhere` what
    another process (a live saga, another recover, reconcile, a resolve by hand) settled
    meanwhile, `unresolved` what is still unfinished."""

    resolved: list[RecoveredEntry]
    unresolved: list[RecoveredEntry]
    settled_elsewhere: list[RecoveredEntry]
