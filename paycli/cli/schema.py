"""`paycli schema`: the JSON Schema of every command's `--json` output, from the
result models themselves."""

from __future__ import annotations

from typing import Annotated

import typer

from paycli.cli.common import command, usage
from paycli.cli.views.base import print_json
from paycli.devtools.report import BenchReport
from paycli.results.base import Result
from paycli.results.batch import BatchReport
from paycli.results.fixtures import FixturesLoaded
from paycli.results.gateway import GatewayStatus
from paycli.results.limits import LimitsList
from paycli.results.payments import (
    PaymentResolved,
    PaymentShow,
    PaymentsList,
    PayResult,
    RefundResolved,
    RefundResult,
    RefundsList,
)
from paycli.results.reconcile import ReconcileReport
from paycli.results.recover import RecoverReport
from paycli.results.replay import BackupResult, DbCopyResult, ReplayReport
from paycli.results.stats import Stats
from paycli.results.wallet import WalletBalance, WalletCredit, WalletHistory
from paycli.results.webhooks import (
    DeliveriesList,
    DeliverResult,
    EndpointAdded,
    EndpointRemoved,
    EndpointsList,
)

# The `--json` result model of every command that has `--json`.
SCHEMAS: dict[str, type[Result]] = {
    "wallet credit": WalletCredit, "wallet balance": WalletBalance,
    "wallet history": WalletHistory, "pay": PayResult, "refund": RefundResult,
    "payments list": PaymentsList, "payments show": PaymentShow,
    "payments resolve": PaymentResolved, "refunds list": RefundsList,
    "refunds resolve": RefundResolved,
    "replay-events": ReplayReport, "recover": RecoverReport,
    "gateway status": GatewayStatus, "gateway reset": GatewayStatus, "bench": BenchReport,
    "db copy": DbCopyResult, "reconcile": ReconcileReport,
    "backup": BackupResult, "fixtures load": FixturesLoaded, "batch": BatchReport,
    "limits set": LimitsList, "limits show": LimitsList, "stats": Stats,
    "webhooks add": EndpointAdded, "webhooks list": EndpointsList,
    "webhooks remove": EndpointRemoved, "webhooks deliver": DeliverResult,
    "webhooks deliveries": DeliveriesList, "webhooks retry": DeliveriesList,
}


def register(app: typer.Typer) -> None:
    """Add `schema` to the app."""
    app.command()(schema)


@command
def schema(
    command_words: Annotated[list[str], typer.Argument(
        metavar="COMMAND...", help="The command, e.g. pay or wallet balance.")],
) -> None:
    """Print the JSON Schema of a command's --json output.

    Example: paycli schema wallet balance
    """
    name = " ".join(command_words)
    if name not in SCHEMAS:
        usage(f"no --json output for {name!r}: use one of {', '.join(SCHEMAS)}")
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                **SCHEMAS[name].model_json_schema(mode="serialization")}
    print_json(document)
