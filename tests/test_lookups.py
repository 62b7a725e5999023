"""What a look-up's answer means: a charge answered `refunded` is a well-formed answer that
finishes a refund in flight when the amounts agree, and never settles a payment by guess."""

from __future__ import annotations

from decimal import Decimal

import httpx
from doubles import ScriptedGateway, saga_env

from paycli.gateway.http import HttpGateway
from paycli.gateway.protocol import Answer
from paycli.ledger import wallet
from paycli.money import Money
from paycli.records import PaymentStatus, RefundStatus
from paycli.saga import lookups
from paycli.saga import pay as saga
from paycli.saga import refund as refunds
from paycli.saga.core import Decision
from paycli.saga.steps import SilentReporter
from paycli.store import Store


def paid(store: Store, gateway: ScriptedGateway, amount: int = 5000) -> str:
    """Alice funded with 100.00 USD and a completed payment of `amount` cents; its id."""
    wallet.credit(store, "alice", Money(10000, "USD"))
    request = saga.PayRequest(user="alice", money=Money(amount, "USD"), wait_s=0)
    outcome = saga.pay(saga_env(store, gateway), request, SilentReporter())
    assert outcome.result.status == PaymentStatus.COMPLETED
    return str(outcome.result.payment_id)


def refund(store: Store, gateway: ScriptedGateway, payment_id: str,
           amount: str | None = None) -> refunds.Outcome:
    """Run the refund saga on `payment_id`."""
    request = refunds.RefundRequest(payment_id, amount, "test")
    return refunds.refund(saga_env(store, gateway), request, SilentReporter(), 1_000_000)


class StatusOnly:
    """A gateway whose every look-up answers `answer` (and that can do nothing else)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    def status(self, external_id: str) -> Answer:
        return self.answer


def status_env(store: Store, answer: Answer) -> saga.SagaEnv:
    """A saga environment whose gateway answers every look-up with `answer`."""
    double = saga_env(store, ScriptedGateway())
    return saga.SagaEnv(store, gateway=lambda: StatusOnly(answer),  # type: ignore[arg-type,return-value]
                        resilience=lambda _: double.resilience)


class TestARefundWhoseAnswerWasLost:
    def test_a_seed_like_gateway_finishes_it_by_the_charge_status(self, store: Store) -> None:
        """A gateway that lists no refunds but answers `refunded` (the seed's): the lost
        refund is COMPLETED by the look-up and the wallet credited exactly once."""
        gateway = ScriptedGateway(lookup=False, honour_keys=False)
        payment_id = paid(store, gateway)
        gateway.set_mode("approve", ["lost"])
        outcome = refund(store, gateway, payment_id)
        assert outcome.result.status == RefundStatus.COMPLETED
        assert outcome.result.payment_status == PaymentStatus.REFUNDED
        assert len([r for r in gateway.refunds if r.status == "refunded"]) == 1
        account = store.read.account("wallet", "alice", "USD")
        assert account is not None and account.balance == 10000

    def test_a_refunded_amount_that_includes_it_succeeds(self, store: Store) -> None:
        """The charge's refunded amount equals what paycli refunded plus this refund."""
        found = self._refund_in_flight(store, amount="20")
        answer = Answer(externalId="ext_1", status="refunded", refundedAmount=Decimal("20.00"))
        env = status_env(store, answer)
        verdict = lookups.ask_about_refund(env, found)
        assert verdict is not None and verdict.decision == Decision.SUCCEEDED

    def test_a_refunded_amount_that_leaves_it_out_means_not_refunded(self, store: Store
                                                                       ) -> None:
        """A refunded amount equal to what paycli had already refunded: this refund did not
        go through (None: the saga releases its reservation)."""
        found = self._refund_in_flight(store, amount="20")
        answer = Answer(externalId="ext_1", status="refunded", refundedAmount=Decimal("0"))
        env = status_env(store, answer)
        assert lookups.ask_about_refund(env, found) is None

    def test_an_amount_nobody_can_account_for_stays_unknown(self, store: Store) -> None:
        """Any other refunded amount: unknown, the reservation kept."""
        found = self._refund_in_flight(store, amount="20")
        answer = Answer(externalId="ext_1", status="refunded", refundedAmount=Decimal("7"))
        env = status_env(store, answer)
        verdict = lookups.ask_about_refund(env, found)
        assert verdict is not None and verdict.decision == Decision.UNKNOWN

    def test_without_an_amount_a_second_refund_stays_unknown(self, store: Store) -> None:
        """No amount in the answer and an earlier refund completed: `refunded` may be the
        earlier refund's doing, so nobody can tell; the reservation is kept."""
        gateway = ScriptedGateway(lookup=False)
        payment_id = paid(store, gateway)
        assert refund(store, gateway, payment_id, "10").result.status == RefundStatus.COMPLETED
        gateway.set_mode("approve", ["lost"])
        outcome = refund(store, gateway, payment_id, "5")
        assert outcome.result.status == RefundStatus.PROCESSING
        payment = store.read.payment(payment_id)
        assert payment is not None and payment.refund_reserved == 500

    @staticmethod
    def _refund_in_flight(store: Store, amount: str) -> refunds.Refund:
        """A PROCESSING refund of `amount` USD whose answer was lost."""
        gateway = ScriptedGateway()
        payment_id = paid(store, gateway)
        gateway.set_mode("hang")
        outcome = refund(store, gateway, payment_id, amount)
        assert outcome.result.status == RefundStatus.PROCESSING, outcome.result
        found = store.read.refund(str(outcome.result.refund_id))
        assert found is not None
        return found


class TestAChargeAnsweredRefunded:
    def test_is_well_formed_over_http(self) -> None:
        """The HTTP client reads `status: "refunded"` as an answer, not as malformed."""
        body = b'{"externalId": "ext_1", "status": "refunded", "message": "Refunded"}'
        transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
        gateway = HttpGateway("http://gateway.test", "test-api-key", 1.0, transport=transport)
        found = gateway.status("ext_1")
        assert found is not None and found.status == "refunded"

    def test_never_settles_a_payment_in_flight(self) -> None:
        """For a payment, `refunded` (a refund paycli never made) is unknown: the hold is
        kept for an operator."""
        verdict = lookups.charge_verdict(Answer(externalId="ext_1", status="refunded"))
        assert verdict.decision == Decision.UNKNOWN
        assert verdict.message is not None and "refunded" in verdict.message


class TestWhatFinishesIt:
    def test_a_charge_that_cannot_be_looked_up_points_to_reconcile(self, store: Store
                                                                  ) -> None:
        """A lost answer at a gateway with no look-up: the message names reconcile (and
        resolving by hand), not recover, which could only ask again in vain."""
        gateway = ScriptedGateway(lookup=False)
        wallet.credit(store, "alice", Money(10000, "USD"))
        gateway.set_mode("approve", ["lost"])
        request = saga.PayRequest(user="alice", money=Money(500, "USD"), wait_s=0)
        outcome = saga.pay(saga_env(store, gateway), request, SilentReporter())
        assert outcome.result.status == PaymentStatus.PROCESSING
        message = outcome.result.error.message if outcome.result.error else ""
        assert message.endswith("run `paycli reconcile --from-gateway --apply` (or settle it "
                                "by hand: `paycli payments resolve`)"), message
