"""The base of every result object, and the parts many share: an error, a saga step."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from paycli.records import StepStatus


class Result(BaseModel):
    """A `--json` result object."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    def to_json(self) -> dict[str, Any]:
        """The object `--json` prints."""
        return self.model_dump(mode="json")


class ErrorInfo(Result):
    """Why a command failed: the error's snake_case type and its one-line message."""

    type: str
    message: str


class StepRecord(Result):
    """One saga step as it ran."""

    name: str
    status: StepStatus
    attempts: int
    duration_ms: float
    detail: str = ""
