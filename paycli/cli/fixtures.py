"""`paycli fixtures load FILE`: wallets, payments and refunds from a JSON file.

The file is read and every entry checked here, with the same rules as the command line
(user ids, currencies, amounts, order ids), before anything is written; a problem is one
line naming the entry (`payments[2].amount: …`), exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from paycli.cli import inputs
from paycli.cli.common import JsonOption, command, emit, fail, open_store, state_of, usage
from paycli.cli.views import fixtures as views
from paycli.devtools.fixtures import PaymentEntry, Plan, RefundEntry, load
from paycli.errors import UsageError
from paycli.saga.wiring import saga_env

if TYPE_CHECKING:
    from paycli.devtools.fixtures import Plan

MAX_FILE_BYTES = 16 * 1024 * 1024
SECTIONS = {
    "wallets": ({"user", "amount"}, {"currency"}),
    "payments": ({"user", "amount", "order_id"}, {"currency"}),
    "refunds": ({"order_id"}, {"amount"}),
}

fixtures_app = typer.Typer(help="Load a known set of wallets, payments and refunds.",
                           no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `fixtures` group to the app."""
    app.add_typer(fixtures_app, name="fixtures")


@fixtures_app.command("load")
@command
def fixtures_load(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The fixtures file (JSON).", dir_okay=False)],
    json_output: JsonOption = False,
) -> None:
    """Load wallets, payments and refunds from a JSON file through the real commands' code
    paths: credits, the pay saga against the configured gateway, refunds.

    The file: {"wallets": [{"user", "amount", "currency"}], "payments": [{"user",
    "amount", "currency", "order_id"}], "refunds": [{"order_id", "amount"}]} (currency
    defaults to USD; a refund without amount refunds what is left). Every entry is checked
    before anything is written. Loading the same file again creates nothing: every entry
    is keyed, so it is skipped, and the gateway gets no new charge.

    Example: paycli fixtures load fixtures/demo.json
    """
    settings = state_of(ctx).settings
    plan = read_plan(file, settings.max_amount)
    with open_store(ctx) as store:
        env = saga_env(store, settings)
        try:
            result, error = load(env, plan, settings.max_amount, 30.0)
        finally:
            env.close()
    if error is None:
        emit(result, json_output, views.fixtures_loaded)
    else:
        fail(result, error, json_output, views.fixtures_loaded)


def read_plan(file: Path, max_major: int) -> Plan:
    """The checked contents of a fixtures file."""
    data = _parsed(file)
    if not isinstance(data, dict) or not set(data) <= set(SECTIONS):
        usage(f"{file}: expected an object with wallets, payments and refunds")
    try:
        entries = {name: _entries(data, name) for name in SECTIONS}
        wallets = [_wallet(e, max_major) for e in entries["wallets"]]
        payments = [_payment(e, max_major) for e in entries["payments"]]
        refunds = [_refund(e) for e in entries["refunds"]]
    except UsageError as exc:
        usage(f"{file}: {exc.message}")
    _unique(file, [(w[0], w[1].currency) for w in wallets], "wallets", "a second entry for")
    _unique(file, [p.order_id for p in payments], "payments", "a second payment for order")
    return Plan(wallets, payments, refunds)


class _Number(str):
    """A JSON number, kept as its exact text (an amount must never pass through float)."""

    __slots__ = ()


def _parsed(file: Path) -> Any:
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            usage(f"{file}: larger than {MAX_FILE_BYTES // 2**20} MiB")
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        usage(f"cannot read {file}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        usage(f"{file}: not UTF-8 text")
    try:
        return json.loads(text, parse_float=_Number, parse_int=_Number,
                          parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        usage(f"{file}: not valid JSON ({str(exc).splitlines()[0][:200]})")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a key given twice in one object: {sorted(keys)}")
    return dict(pairs)


def _entries(data: dict[str, Any], section: str) -> list[tuple[str, dict[str, Any]]]:
    """The entries of a section, each with its place (`payments[2]`), shapes checked."""
    listed = data.get(section, [])
    if not isinstance(listed, list):
        raise UsageError(f"{section} must be a list")
    required, optional = SECTIONS[section]
    checked = []
    for number, entry in enumerate(listed):
        where = f"{section}[{number}]"
        if not isinstance(entry, dict):
            raise UsageError(f"{where} must be an object")
        if missing := sorted(required - set(entry)):
            raise UsageError(f"{where}: missing {', '.join(missing)}")
        if unknown := sorted(set(entry) - required - optional):
            raise UsageError(f"{where}: unknown key {unknown[0][:40]!r}")
        checked.append((where, entry))
    return checked


def _text(entry: tuple[str, dict[str, Any]], key: str, *, number_ok: bool = False) -> str:
    where, values = entry
    value = values[key]
    if not isinstance(value, str) or (isinstance(value, _Number) and not number_ok):
        raise UsageError(f"{where}.{key} must be a string")
    return str(value)


def _located(entry: tuple[str, dict[str, Any]], key: str, check: Any, *args: Any) -> Any:
    try:
        return check(*args)
    except UsageError as exc:
        raise UsageError(f"{entry[0]}.{key}: {exc.message}") from None


def _money(entry: tuple[str, dict[str, Any]], max_major: int) -> Any:
    code = _text(entry, "currency") if entry[1].get("currency") is not None else "USD"
    code = _located(entry, "currency", inputs.currency_code, code)
    return _located(entry, "amount", inputs.amount, _text(entry, "amount", number_ok=True),
                    code, max_major)


def _wallet(entry: tuple[str, dict[str, Any]], max_major: int) -> Any:
    user = _located(entry, "user", inputs.user_id, _text(entry, "user"))
    return user, _money(entry, max_major)


def _payment(entry: tuple[str, dict[str, Any]], max_major: int) -> Any:
    user = _located(entry, "user", inputs.user_id, _text(entry, "user"))
    order_id = _located(entry, "order_id", inputs.order_id, _text(entry, "order_id"))
    return PaymentEntry(user, _money(entry, max_major), order_id)


def _refund(entry: tuple[str, dict[str, Any]]) -> Any:
    order_id = _located(entry, "order_id", inputs.order_id, _text(entry, "order_id"))
    amount = None
    if entry[1].get("amount") is not None:
        amount = _located(entry, "amount", inputs.amount_text,
                          _text(entry, "amount", number_ok=True))
    return RefundEntry(order_id, amount)


def _unique(file: Path, keys: list[Any], section: str, says: str) -> None:
    seen: set[Any] = set()
    for number, key in enumerate(keys):
        if key in seen:
            shown = " ".join(key) if isinstance(key, tuple) else key
            usage(f"{file}: {section}[{number}]: {says} {shown}")
        seen.add(key)
