"""`paycli schema COMMAND`: each `--json` output's JSON Schema, generated from the result
models, and every command's real `--json` output valid against it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import CliCall, fixture_path
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from paycli.cli import app
from paycli.cli.schema import SCHEMAS

UNKNOWN_PAYMENT = "pay_" + "0" * 24


def schema_of(command: str) -> dict[str, Any]:
    """What `paycli schema COMMAND` prints, parsed."""
    result = CliRunner().invoke(app, ["schema", *command.split()])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def check(command: str, output: dict[str, Any]) -> None:
    """Assert `output` is valid against the schema of `command`."""
    errors = sorted(Draft202012Validator(schema_of(command)).iter_errors(output), key=str)
    assert not errors, [error.message for error in errors]


class TestSchemaCommand:
    @pytest.mark.parametrize("command", sorted(SCHEMAS))
    def test_every_json_command_has_a_valid_schema(self, command: str) -> None:
        """The printed document is itself a valid JSON Schema (draft 2020-12)."""
        document = schema_of(command)
        Draft202012Validator.check_schema(document)
        assert document["type"] == "object" and document["properties"]

    def test_amounts_are_strings_in_every_schema(self) -> None:
        """Amounts are typed as strings, never numbers, in the published schemas."""
        pay = schema_of("pay")["properties"]
        assert pay["amount"]["type"] == "string" and pay["balance"]["type"] == "string"
        assert schema_of("wallet balance")["properties"]["held"]["type"] == "string"

    def test_statuses_are_the_contract_enums(self) -> None:
        """A payment's status is one of the contract's six statuses."""
        document = schema_of("payments show")
        enum = document["$defs"]["PaymentStatus"]["enum"]
        assert enum == ["PENDING", "PROCESSING", "COMPLETED", "FAILED", "PARTIALLY_REFUNDED",
                        "REFUNDED"]

    def test_a_command_without_json_output_is_a_usage_error(self) -> None:
        """`schema export` (no --json) and an unknown command exit 2 with one line."""
        for words in (["export"], ["nonsense", "words"]):
            result = CliRunner().invoke(app, ["schema", *words])
            assert result.exit_code == 2
            assert result.stderr.startswith("Error: no --json output for")

    def test_the_validator_refuses_a_wrong_output(self) -> None:
        """The check can fail: a float amount is refused by the `pay` schema."""
        bad = {"payment_id": None, "status": None, "user": "a", "amount": 50.0,
               "currency": "USD", "order_id": None, "gateway_ref": None, "balance": "0.00",
               "steps": [], "error": None}
        errors = list(Draft202012Validator(schema_of("pay")).iter_errors(bad))
        assert errors


def _billing_file(folder: Path) -> Path:
    """A one-row billing run for alice."""
    path = folder / "billing.csv"
    path.write_text("user,amount,currency,order_id\nalice,1,,schema-1\n")
    return path


class TestRealOutputs:
    """Every command's real `--json` output, on a ledger with a payment and a refund made
    against the mock gateway, validates against its schema."""

    @pytest.fixture
    def run(self, cli: CliCall, gateway: Any) -> Callable[..., tuple[int, dict[str, Any]]]:
        env = {"PAYCLI_GATEWAY_URL": gateway.url, "PAYCLI_GATEWAY_TIMEOUT": "2"}

        def call(*args: str) -> tuple[int, dict[str, Any]]:
            result = cli(*args, "--json", env=env)
            return result.exit_code, json.loads(result.stdout)

        return call

    def test_every_command_output_matches_its_schema(
            self, run: Callable[..., tuple[int, dict[str, Any]]], db_path: Path) -> None:
        """wallet, pay (done and refused), refund, payments, replay, recover, gateway."""
        outputs = {
            "wallet credit": run("wallet", "credit", "--user", "alice", "--amount", "100"),
            "pay": run("pay", "--user", "alice", "--amount", "40", "--order-id", "o-1"),
        }
        payment_id = outputs["pay"][1]["payment_id"]
        outputs |= {
            "refund": run("refund", payment_id, "--amount", "5", "--reason", "schema"),
            "wallet balance": run("wallet", "balance", "--user", "alice"),
            "wallet history": run("wallet", "history", "--user", "alice"),
            "payments list": run("payments", "list"),
            "payments show": run("payments", "show", payment_id),
            "replay-events": run("replay-events"),
            "recover": run("recover"),
            "gateway status": run("gateway", "status"),
            "gateway reset": run("gateway", "reset"),
            "refunds list": run("refunds", "list"),
            "reconcile": run("reconcile", "--from-gateway"),
            "backup": run("backup", str(db_path.parent / "copy.db")),
            "fixtures load": run("fixtures", "load", str(fixture_path("demo.json"))),
            "limits set": run("limits", "set", "--default", "--max-amount", "500"),
            "limits show": run("limits", "show"),
            "stats": run("stats", "--by", "currency", "--check", "p99_ms<=60000"),
            "batch": run("batch", str(_billing_file(db_path.parent))),
        }
        for command, (code, output) in outputs.items():
            assert code == 0, (command, output)
            check(command, output)
        # bench: below; payments and refunds resolve: tests/test_resolve.py; db copy: its own;
        # webhooks: tests/test_webhooks.py (they need a receiver)
        assert set(outputs) == set(SCHEMAS) - {"bench", "payments resolve", "refunds resolve",
                                               "db copy"} - {
            name for name in SCHEMAS if name.startswith("webhooks ")}

    def test_a_refused_payment_matches_the_pay_schema(
            self, run: Callable[..., tuple[int, dict[str, Any]]]) -> None:
        """A failed `pay` reports its fields beside `error`, in the same schema."""
        code, output = run("pay", "--user", "nobody", "--amount", "5")
        assert code == 3 and output["error"]["type"] == "insufficient_funds"
        check("pay", output)

    @pytest.mark.slow
    def test_the_bench_output_matches_its_schema(self, cli: CliCall) -> None:
        """`bench --json` (a few payments in process) validates against its schema."""
        result = cli("bench", "--payments", "5", "--json")
        assert result.exit_code == 0, result.output
        check("bench", json.loads(result.stdout))
