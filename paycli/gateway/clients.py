"""The client that speaks a gateway's protocol: `paycli` (the full protocol) and `seed`
(the seed's own gateway, whose quirks `HttpGateway` tolerates) share `HttpGateway`;
`stripe` (PaymentIntents) is `StripeGateway`, which inherits its plumbing."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paycli.gateway.http import HttpGateway

PROTOCOLS = ("paycli", "seed", "stripe")


def client(protocol: str, base_url: str, api_key: str, timeout_s: float,
           key_setting: str | None = None) -> HttpGateway:
    """A client for the gateway at `base_url` speaking `protocol` (one of `PROTOCOLS`);
    every one is an `HttpGateway` (the `Gateway` calls and `settlement_report`).
    `key_setting` names where its key is set, for the message when the gateway refuses
    it (a gateway of `PAYCLI_GATEWAYS` has its own)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown gateway protocol {protocol!r}")
    gateway: HttpGateway
    if protocol == "stripe":
        # Imported here, as HttpGateway below: httpx and the models cost start-up.
        from paycli.gateway.stripe import StripeGateway

        gateway = StripeGateway(base_url, api_key, timeout_s)
    else:
        # Imported here: httpx costs start-up, and a replayed or refused payment never
        # needs it.
        from paycli.gateway.http import HttpGateway

        gateway = HttpGateway(base_url, api_key, timeout_s)
    if key_setting is not None:
        gateway.key_setting = key_setting
    return gateway
