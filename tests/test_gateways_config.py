"""Several gateways: `PAYCLI_GATEWAYS` or `[gateways.NAME]` tables list them in priority
order, each with its key from `PAYCLI_GATEWAY_<NAME>_API_KEY` and its own shared breaker
row; nothing set is the single gateway `default` as before (its breaker row still named
`gateway`). Bad names, URLs and protocols are usage errors (exit 2) and keys follow the
single gateway's rules, before anything is written. `gateway status` lists every gateway,
`gateway reset [NAME]` closes one breaker or every one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import CliCall
from helpers import paycli_env, run_json

from paycli.config import BUILTIN_API_KEY, Settings
from paycli.devtools.mock_process import MockGatewayProcess
from paycli.errors import GatewayConfigError, UsageError
from paycli.gateway.routes import Route, api_key, route_named, routes
from paycli.store import BreakerStore, Store

TWO = "primary=http://127.0.0.1:3000,backup=http://127.0.0.1:3001|stripe"


def settings(data_dir: Path | None = None, **env: str) -> Settings:
    """Settings reading only `env` (and `data_dir`'s paycli.toml, if given)."""
    return Settings(env=env, data_dir=data_dir)


class TestTheGatewayList:
    def test_nothing_set_is_the_single_default_gateway_as_before(self) -> None:
        """No list: one gateway `default`, at PAYCLI_GATEWAY_URL, with today's key and
        today's breaker row."""
        found = routes(settings(PAYCLI_GATEWAY_URL="http://127.0.0.1:4000/"))
        assert found == [Route("default", "http://127.0.0.1:4000")]
        assert found[0].breaker == "gateway"
        assert api_key(settings(PAYCLI_GATEWAY_API_KEY="k" * 20), found[0]) == "k" * 20

    def test_the_list_keeps_its_order_urls_and_protocols(self) -> None:
        """PAYCLI_GATEWAYS gives names, URLs and protocols in priority order."""
        found = routes(settings(PAYCLI_GATEWAYS=TWO))
        assert [(r.name, r.url, r.protocol, r.breaker) for r in found] == [
            ("primary", "http://127.0.0.1:3000", "paycli", "gateway:primary"),
            ("backup", "http://127.0.0.1:3001", "stripe", "gateway:backup")]

    def test_each_gateway_takes_its_own_key(self) -> None:
        """A listed gateway's key is PAYCLI_GATEWAY_<NAME>_API_KEY; the single gateway's
        variable is never sent to a listed one (a loopback one gets the test key)."""
        found = settings(PAYCLI_GATEWAYS=TWO, PAYCLI_GATEWAY_BACKUP_API_KEY="b" * 20,
                         PAYCLI_GATEWAY_API_KEY="x" * 20)
        primary, backup = routes(found)
        assert api_key(found, backup) == "b" * 20
        assert api_key(found, primary) == BUILTIN_API_KEY

    def test_the_paycli_toml_tables_list_gateways(self, tmp_path: Path) -> None:
        """[gateways.NAME] tables in paycli.toml, in file order, with url and protocol."""
        (tmp_path / "paycli.toml").write_text(
            '[gateways.first]\nurl = "http://127.0.0.1:3000"\n'
            '[gateways.second]\nurl = "http://127.0.0.1:3001"\nprotocol = "seed"\n'
            'api_key = "second-key-123"\n')
        found = settings(tmp_path)
        assert [(r.name, r.protocol) for r in routes(found)] == [("first", "paycli"),
                                                                 ("second", "seed")]
        assert api_key(found, routes(found)[1]) == "second-key-123"

    @pytest.mark.parametrize("listed,words", [
        ("", "is empty"), ("primary", "not NAME=URL"), ("Primary=http://127.0.0.1:1", "name"),
        ("a-b=http://127.0.0.1:1", "name"), ("p=ftp://127.0.0.1:1", "invalid URL"),
        ("p=http://127.0.0.1:99999", "invalid URL"), ("p=http://127.0.0.1:1|soap", "protocol"),
        ("p=http://127.0.0.1:1,p=http://127.0.0.1:2", "named twice")])
    def test_a_bad_list_is_a_usage_error_naming_the_problem(self, listed: str,
                                                          words: str) -> None:
        """Bad names, URLs, protocols and repeats: a usage error (exit 2) that says why."""
        with pytest.raises(UsageError) as caught:
            routes(settings(PAYCLI_GATEWAYS=listed))
        assert words in caught.value.message and caught.value.exit_code == 2

    def test_keys_follow_the_single_gateways_rules(self) -> None:
        """Empty: exit 2; short: exit 11; none for a gateway elsewhere: exit 11."""
        far = settings(PAYCLI_GATEWAYS="far=https://pay.example.com")
        [route] = routes(far)
        with pytest.raises(GatewayConfigError) as caught:
            api_key(far, route)
        assert "PAYCLI_GATEWAY_FAR_API_KEY is not set" in caught.value.message
        with pytest.raises(GatewayConfigError):
            api_key(settings(PAYCLI_GATEWAYS="far=https://pay.example.com",
                             PAYCLI_GATEWAY_FAR_API_KEY="short"), route)
        with pytest.raises(UsageError):
            api_key(settings(PAYCLI_GATEWAYS="far=https://pay.example.com",
                             PAYCLI_GATEWAY_FAR_API_KEY=" "), route)

    def test_an_unknown_name_lists_the_configured_ones(self) -> None:
        """--gateway NAME that is not configured: exit 2, naming the configured ones."""
        with pytest.raises(UsageError) as caught:
            route_named(settings(PAYCLI_GATEWAYS=TWO), "third")
        assert "primary, backup" in caught.value.message


class TestStatusAndReset:
    def test_status_lists_every_gateway_with_its_breaker(self, cli: CliCall,
                                                          db_path: Path) -> None:
        """`gateway status --json`: `gateways` in priority order, each with its own
        breaker; the top-level fields are the first gateway's."""
        assert cli("wallet", "credit", "--user", "a", "--amount", "1").exit_code == 0
        with Store(str(db_path)) as store:
            BreakerStore(store, "gateway:backup").open(time.time())
        done = cli("gateway", "status", "--json", env={"PAYCLI_GATEWAYS": TWO})
        out = json.loads(done.stdout)
        assert out["state"] == "closed" and out["probe_at"] is None
        assert [(g["name"], g["url"], g["protocol"], g["state"]) for g in out["gateways"]] == [
            ("primary", "http://127.0.0.1:3000", "paycli", "closed"),
            ("backup", "http://127.0.0.1:3001", "stripe", "open")]
        human = cli("gateway", "status", env={"PAYCLI_GATEWAYS": TWO}).stdout
        assert "primary" in human and "backup" in human and "open" in human

    def test_reset_by_name_closes_that_breaker_only(self, cli: CliCall, db_path: Path
                                                    ) -> None:
        """`gateway reset backup` closes backup's breaker; primary's stays open; `gateway
        reset` alone closes every one."""
        assert cli("wallet", "credit", "--user", "a", "--amount", "1").exit_code == 0
        with Store(str(db_path)) as store:
            for name in ("gateway:primary", "gateway:backup"):
                BreakerStore(store, name).open(time.time())
        out = json.loads(cli("gateway", "reset", "backup", "--json",
                             env={"PAYCLI_GATEWAYS": TWO}).stdout)
        assert [g["state"] for g in out["gateways"]] == ["open", "closed"]
        out = json.loads(cli("gateway", "reset", "--json", env={"PAYCLI_GATEWAYS": TWO}).stdout)
        assert [g["state"] for g in out["gateways"]] == ["closed", "closed"]

    def test_reset_of_an_unknown_gateway_is_a_usage_error(self, cli: CliCall) -> None:
        """An unknown NAME: exit 2 naming the configured gateways."""
        assert cli("wallet", "credit", "--user", "a", "--amount", "1").exit_code == 0
        done = cli("gateway", "reset", "third", env={"PAYCLI_GATEWAYS": TWO})
        assert done.exit_code == 2 and "primary, backup" in done.output

    def test_a_bad_list_stops_a_payment_before_anything_is_written(
            self, cli: CliCall, db_path: Path) -> None:
        """A bad PAYCLI_GATEWAYS: `pay` exits 2 with one line, the wallet untouched."""
        assert cli("wallet", "credit", "--user", "a", "--amount", "5").exit_code == 0
        done = cli("pay", "--user", "a", "--amount", "1",
                   env={"PAYCLI_GATEWAYS": "p=http://127.0.0.1:1|soap"})
        assert done.exit_code == 2 and "unknown protocol 'soap'" in done.output
        with Store(str(db_path)) as store:
            assert store.read.payments() == []


class TestAPaymentsGatewayMustStayConfigured:
    def test_recover_leaves_a_payment_of_an_unlisted_gateway_unresolved_and_says_why(
            self, db_path: Path, gateway: MockGatewayProcess) -> None:
        """A payment left PROCESSING at `default`, then a list without `default`: recover
        asks nobody, leaves it held and names the missing gateway (exit 10); listed again
        under that name, it settles."""
        env = paycli_env(gateway.url)
        assert run_json(db_path, "wallet", "credit", "--user", "a", "--amount", "5",
                        env=env)[0] == 0
        gateway.set_mode("pending", latency_ms=1500)
        code, out = run_json(db_path, "pay", "--user", "a", "--amount", "2", "--wait", "0",
                             env=env)
        assert code == 10 and out["status"] == "PROCESSING"
        gateway.set_mode("ok")
        moved = {**env, "PAYCLI_GATEWAYS": f"primary={gateway.url}"}
        code, out = run_json(db_path, "recover", env=moved)
        assert code == 10 and "'default' is not configured" in out["unresolved"][0]["reason"]
        time.sleep(1.6)  # the charge settles at the gateway
        listed = {**env, "PAYCLI_GATEWAYS": f"default={gateway.url}"}
        code, out = run_json(db_path, "recover", env=listed)
        assert code == 0 and out["resolved"][0]["status"] == "COMPLETED"

    def test_a_refused_key_names_that_gateways_own_setting(
            self, db_path: Path, gateway: MockGatewayProcess) -> None:
        """A listed gateway that refuses its key (401): exit 11, the message names
        PAYCLI_GATEWAY_<NAME>_API_KEY (where that key is set), not the single gateway's."""
        env = {**paycli_env(gateway.url), "PAYCLI_GATEWAYS": f"card={gateway.url}",
               "PAYCLI_GATEWAY_CARD_API_KEY": "not-the-mocks-key"}
        assert run_json(db_path, "wallet", "credit", "--user", "a", "--amount", "5",
                        env=env)[0] == 0
        code, out = run_json(db_path, "pay", "--user", "a", "--amount", "2", env=env)
        assert code == 11, out
        assert "check PAYCLI_GATEWAY_CARD_API_KEY" in out["error"]["message"], out
        assert "not-the-mocks-key" not in json.dumps(out)
