"""What escrow's property and concurrency tests share: on-commit capture that can be used many
times in one test, Stripe faults at the HTTP layer, and the escrow's invariants as one checker.

`escrow_violations()` returns the broken invariants as sentences (an empty list when the escrow
is healthy), so a failing test says what went wrong, not only that something did.
"""

import json
from contextlib import contextmanager
from urllib.parse import urlsplit

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Sum
from django.test import TestCase

from core.stripe_client import client as stripe
from escrow import ledger
from escrow.models import (
    EscrowPayment,
    EscrowRefund,
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    Milestone,
    MilestoneStatus,
    Order,
    OrderStatus,
    PaymentStatus,
    RefundStatus,
    ReleaseStatus,
    StripeCustomer,
)
from stripe_sandbox import testing as sandbox

# Statuses an order reaches only once paid, and those it is never released in.
HOLDING = {
    OrderStatus.FUNDED,
    OrderStatus.DELIVERED,
    OrderStatus.RELEASED,
    OrderStatus.DISPUTED,
    OrderStatus.REFUNDED,
}
UNRELEASED = {OrderStatus.PENDING_PAYMENT, OrderStatus.FUNDED, OrderStatus.DELIVERED}
BOOKED = {PaymentStatus.SUCCEEDED, PaymentStatus.DUPLICATE}  # money received and booked


# --- After-commit work (webhook deliveries, Celery tasks) ---------------------------------------


@contextmanager
def run_on_commit_callbacks(using=DEFAULT_DB_ALIAS):
    """Run the on-commit callbacks registered inside the block when it ends, as a commit would.

    The same as pytest-django's django_capture_on_commit_callbacks(execute=True), usable any
    number of times in one test (and in every example of a hypothesis test). Callbacks that a
    callback registers run too, so a delivery's Celery task is processed.
    """
    with TestCase.captureOnCommitCallbacks(using=using, execute=True) as callbacks:
        yield callbacks


# --- Stripe faults at the HTTP layer ------------------------------------------------------------


class TransferFaults:
    """Makes POST /v1/transfers fail the way a network or Stripe outage does.

    mode None: normal. "down": Stripe answers 500 and does nothing. "lost_response": Stripe makes
    the transfer, then the answer is lost (our process sees a 500): the case a crash between the
    Stripe call and our write produces. Both say `stripe-should-retry: false`, so the SDK gives up
    at once (no retry sleeps).
    """

    def __init__(self):
        self.mode = None
        self.lost = 0  # transfers made whose answer we lost

    def __call__(self, method, url, headers, body, handle):
        if self.mode and method.upper() == "POST" and urlsplit(url).path == "/v1/transfers":
            if self.mode == "lost_response":
                _, status, _ = handle(method, url, headers, body)
                self.lost += status == 200
            error = {"error": {"type": "api_error", "message": f"Test fault: {self.mode}."}}
            return json.dumps(error), 500, {"stripe-should-retry": "false"}
        return handle(method, url, headers, body)


def install_transfer_faults(monkeypatch):
    faults = TransferFaults()
    sandbox.intercept(monkeypatch, faults)
    return faults


# --- Stripe's view of an order ------------------------------------------------------------------


def stripe_transfers_for(order):
    """Every Stripe Transfer made for the order (its transfer_group), across pages."""
    listed = stripe().v1.transfers.list(
        params={"transfer_group": f"order-{order.pk}", "limit": 100}
    )
    return list(listed.auto_paging_iter())


def stripe_succeeded_intents(buyer):
    """The buyer's PaymentIntents that Stripe says succeeded (money on the platform)."""
    customer = StripeCustomer.objects.filter(user=buyer).first()
    if customer is None:
        return []
    listed = stripe().v1.payment_intents.list(
        params={"customer": customer.stripe_customer_id, "limit": 100}
    )
    return [pi for pi in listed.auto_paging_iter() if pi.status == "succeeded"]


# --- The invariants -----------------------------------------------------------------------------


def ledger_sum(entries):
    return entries.aggregate(total=Sum("amount_cents"))["total"] or 0


def escrow_violations(orders, *, sellers=(), strict_transfers=True):
    """Check the escrow's invariants for `orders`; returns what is broken (empty when healthy).

    strict_transfers: with no lost Stripe answers, an order's Stripe transfers are exactly its
    release's transfer once transferred and nothing before. Without it (a transfer's answer was
    lost on the way back), Stripe may already hold that one transfer while our release still
    says failed: at most one transfer, never more than the release's amount.
    """
    problems = []
    unbalanced = (
        LedgerEntry.objects.values("transaction_id")
        .annotate(total=Sum("amount_cents"))
        .exclude(total=0)
    )
    for row in unbalanced:
        problems.append(f"ledger transaction {row['transaction_id']} sums to {row['total']}")

    for order in orders:
        order = Order.objects.get(pk=order.pk)
        tag = f"order #{order.pk} ({order.status})"
        total = ledger.order_total(order)
        if total:
            problems.append(f"{tag}: ledger lines sum to {total}")
        payments = list(EscrowPayment.objects.filter(order=order))
        succeeded = [p for p in payments if p.status == PaymentStatus.SUCCEEDED]
        releases = list(EscrowRelease.objects.filter(order=order).order_by("pk"))
        by_milestone = order.has_milestone_plan
        if len(succeeded) > 1:
            problems.append(f"{tag}: {len(succeeded)} succeeded payments")
        if len(releases) > 1 and not by_milestone:
            problems.append(f"{tag}: {len(releases)} releases")
        if (order.status in HOLDING and not succeeded) or (
            order.status == OrderStatus.PENDING_PAYMENT and succeeded
        ):
            problems.append(f"{tag}: {len(succeeded)} succeeded payments for this status")
        # A milestone order releases milestone by milestone while it is funded.
        unreleased = {OrderStatus.PENDING_PAYMENT} if by_milestone else UNRELEASED
        if (order.status == OrderStatus.RELEASED and not releases) or (
            order.status in unreleased and releases
        ):
            problems.append(f"{tag}: {len(releases)} releases for this status")
        if by_milestone:
            problems += _milestone_violations(order, tag, releases)

        # Each payment Stripe took is booked once, and only those.
        booked = [p for p in payments if p.succeeded_at is not None]
        for payment in payments:
            if payment.succeeded_at is not None and payment.status not in BOOKED:
                problems.append(
                    f"{tag}: payment {payment.pk} took the buyer's money but says {payment.status}"
                )
            bookings = (
                LedgerEntry.objects.filter(
                    order=order, account=LedgerAccount.BUYER_FUNDS_HELD, amount_cents__lt=0
                )
                .filter(stripe_object_id=payment.stripe_charge_id or "-")
                .count()
            )
            expected = 1 if payment.succeeded_at is not None else 0
            if bookings != expected:
                problems.append(
                    f"{tag}: payment {payment.pk} ({payment.status}) booked {bookings} times"
                )
        held = ledger.balance(LedgerAccount.BUYER_FUNDS_HELD, order=order)
        expected_held = -sum(p.amount_cents for p in booked)

        # Refunds made before release took their amount out of escrow (after release, out of
        # the seller's and the platform's shares).
        expected_held += sum(
            r.amount_cents
            for r in EscrowRefund.objects.filter(order=order, after_release=False)
            if r.booked_at is not None and r.status == RefundStatus.SUCCEEDED
        )
        # A chargeback before release took (and a won one gave back) the money escrow held.
        expected_held += ledger_sum(
            LedgerEntry.objects.filter(
                order=order,
                account=LedgerAccount.BUYER_FUNDS_HELD,
                stripe_object_id__startswith="dp_",
            )
        )
        refunds = list(EscrowRefund.objects.filter(order=order, status=RefundStatus.SUCCEEDED))
        for payment in booked:
            refunded = sum(r.amount_cents for r in refunds if r.payment_id == payment.pk)
            if refunded > payment.amount_cents:
                problems.append(f"{tag}: refunded {refunded} of payment {payment.pk}")
        if releases:
            gross = sum(r.gross_cents for r in releases)
            expected_held += gross
            funded = succeeded[0].amount_cents if succeeded else 0
            before = sum(
                r.amount_cents
                for r in refunds
                if not r.after_release and succeeded and r.payment_id == succeeded[0].pk
            )
            if gross + before > funded:
                problems.append(
                    f"{tag}: released {gross} + refunded before {before} > funded {funded}"
                )
        for release in releases:
            parts = release.transfer_cents + release.commission_cents + release.debt_recovered_cents
            if parts + release.fee_passed_on_cents != release.gross_cents:
                problems.append(f"{tag}: release {release.pk}'s parts do not add up to its gross")
        if held != expected_held:
            problems.append(f"{tag}: buyer_funds_held is {held}, expected {expected_held}")

        # Stripe: no action moves money twice (a won chargeback's transfer back to the seller is
        # not the release's).
        transfers = [
            t
            for t in stripe_transfers_for(order)
            if "bazaar_chargeback_id" not in (t.metadata or {})
        ]
        # A milestone order has one release (and one transfer) per released milestone: each
        # release is matched with the transfers naming it (its milestone, in the metadata).
        for release in releases or [None]:
            problems += _transfer_violations(
                tag, release, transfers, by_milestone=by_milestone, strict=strict_transfers
            )
        if by_milestone:
            named = {str(r.milestone_id) for r in releases}
            stray = [t for t in transfers if t.metadata.get("bazaar_milestone_id") not in named]
            if stray:
                problems.append(f"{tag}: {len(stray)} Stripe transfers of no release")

    for seller in sellers:
        not_transferred = EscrowRelease.objects.filter(order__seller=seller).exclude(
            status=ReleaseStatus.TRANSFERRED
        )
        owed = not_transferred.aggregate(total=Sum("transfer_cents"))["total"] or 0
        payable = ledger.balance(LedgerAccount.seller_payable(seller.pk))
        if payable != -owed:
            problems.append(
                f"seller {seller.pk}: seller_payable is {payable}, expected {-owed} "
                "(0 once every transfer is done)"
            )
    return problems


def _transfer_violations(tag, release, transfers, *, by_milestone, strict):
    """Stripe moved exactly the release's transfer once it is transferred, and nothing before
    (without `strict`: at most that one transfer, whose answer may have been lost)."""
    if by_milestone and release is not None:
        transfers = [
            t
            for t in transfers
            if t.metadata.get("bazaar_milestone_id") == str(release.milestone_id)
        ]
        tag = f"{tag}, milestone {release.milestone_id}"
    moved = sum(t.amount for t in transfers)
    if release is not None and release.status == ReleaseStatus.TRANSFERRED:
        problems = []
        if moved != release.transfer_cents or len(transfers) > 1:
            problems.append(
                f"{tag}: Stripe moved {moved} in {len(transfers)} transfers, the release "
                f"says {release.transfer_cents}"
            )
        if transfers and release.stripe_transfer_id != transfers[0].id:
            problems.append(f"{tag}: the release names another transfer than Stripe's")
        return problems
    if strict or release is None:
        return [f"{tag}: Stripe moved {moved} before the release was recorded"] if moved else []
    if len(transfers) > 1 or moved > release.transfer_cents:
        return [f"{tag}: Stripe moved {moved} in {len(transfers)} transfers"]
    return []


def _milestone_violations(order, tag, releases):
    """A milestone order: the plan adds up to the order, each milestone is released or refunded
    at most once and never beyond its amount, its status agrees with its rows, and the order is
    released only once every milestone is settled."""
    problems = []
    milestones = list(Milestone.objects.filter(order=order).order_by("position"))
    if sum(m.amount_cents for m in milestones) != order.total_cents:
        problems.append(f"{tag}: the milestones do not add up to the order's total")
    released = {r.milestone_id: r for r in releases}
    if None in released:
        problems.append(f"{tag}: a release of the whole order besides its milestones")
    refunds = EscrowRefund.objects.filter(order=order, status=RefundStatus.SUCCEEDED)
    for milestone in milestones:
        mtag = f"{tag}, milestone {milestone.position} ({milestone.status})"
        before = sum(
            r.amount_cents
            for r in refunds
            if r.milestone_id == milestone.pk and not r.after_release
        )
        after = sum(
            r.amount_cents for r in refunds if r.milestone_id == milestone.pk and r.after_release
        )
        release = released.get(milestone.pk)
        gross = release.gross_cents if release else 0
        if gross and gross != milestone.amount_cents:
            problems.append(f"{mtag}: released {gross} of {milestone.amount_cents}")
        if gross + before > milestone.amount_cents or after > gross:
            problems.append(
                f"{mtag}: released {gross}, refunded {before} before and {after} after release"
            )
        if (milestone.status == MilestoneStatus.RELEASED) != (release is not None):
            problems.append(f"{mtag}: {'a' if release else 'no'} release")
        if before and milestone.status != MilestoneStatus.REFUNDED:
            problems.append(f"{mtag}: refunded {before} before release")
    settled = all(
        m.status in (MilestoneStatus.RELEASED, MilestoneStatus.REFUNDED) for m in milestones
    )
    if order.status == OrderStatus.RELEASED and not settled:
        problems.append(f"{tag}: released with milestones still open")
    return problems


def unrecorded_payments(buyer):
    """Stripe took the buyer's money but Bazaar has not booked it (check once webhooks are in)."""
    problems = []
    for intent in stripe_succeeded_intents(buyer):
        payment_id = (intent.metadata or {}).get("bazaar_payment_id", "")
        payment = EscrowPayment.objects.filter(pk=int(payment_id) if payment_id else 0).first()
        if payment is None or payment.status not in BOOKED:
            state = payment.status if payment else "missing"
            problems.append(f"payment intent {intent.id} succeeded; our payment is {state}")
        elif payment.stripe_payment_intent_id != intent.id:
            problems.append(f"payment {payment.pk} names another intent than {intent.id}")
    return problems
