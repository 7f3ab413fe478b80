"""Card chargebacks (charge.dispute.*) end to end through the sandbox: the order frozen, the
money booked as Stripe moves it, the seller's share taken back (or owed), the outcome settled,
duplicated and reordered events harmless, and the evidence Bazaar assembles and submits."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.factories import StaffFactory, UserFactory
from accounts.selectors import connected_account_id_for
from core.errors import InvalidTransition, NotAllowed
from core.stripe_client import client as stripe
from escrow import ledger, services
from escrow.models import (
    Chargeback,
    ChargebackStatus,
    EscrowRelease,
    LedgerAccount,
    OrderStatus,
    ReleaseTrigger,
)
from escrow.reconcile import reconcile
from escrow.testing import deliver_order, pay_on_checkout_page, place_order
from escrow.tests import harness
from stripe_sandbox import control

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"
DISPUTED_CARD = "4000 0000 0000 0259"
DISPUTE_FEE = 1500


@pytest.fixture
def paid(client, listing, buyer, django_capture_on_commit_callbacks):
    """A US$25.00 order (commission 2.50) paid with `card`, every webhook delivered."""

    def make(card="4242 4242 4242 4242", the_buyer=None, quantity=1):
        the_buyer = the_buyer or buyer
        order = place_order(buyer=the_buyer, listing_id=listing.pk, quantity=quantity)
        _, url = services.payment_checkout_start(
            order=order, buyer=the_buyer, success_url=SUCCESS, cancel_url=CANCEL
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert pay_on_checkout_page(client, url, card).status_code == 302
        order.refresh_from_db()
        return order

    return make


def dispute_of(order):
    payment = order.payments.get(status="succeeded")
    (dispute,) = stripe().v1.disputes.list(params={"charge": payment.stripe_charge_id}).data
    return dispute


def close(order, *, won, capture):
    with capture(execute=True):
        control.dispute_close(dispute_of(order).id, won=won)
    order.refresh_from_db()
    return Chargeback.objects.get(order=order)


def lines(order, account):
    return sum(e.amount_cents for e in order.ledger_entries.filter(account=account))


# --- Before release -----------------------------------------------------------------------------


def test_a_chargeback_before_release_freezes_the_order_and_books_what_stripe_took(
    paid, seller, stripe_sandbox
):
    staff = StaffFactory()
    order = paid(DISPUTED_CARD)

    chargeback = Chargeback.objects.get(order=order)
    assert (chargeback.status, chargeback.amount_cents) == (ChargebackStatus.NEEDS_RESPONSE, 2500)
    assert chargeback.evidence_due_by is not None
    assert order.status == OrderStatus.DISPUTED and order.disputed_from == OrderStatus.FUNDED
    # Stripe took the 25.00 and its 15.00 fee: escrow holds nothing for the order any more.
    assert lines(order, LedgerAccount.BUYER_FUNDS_HELD) == 0
    assert lines(order, LedgerAccount.STRIPE_FEES) > DISPUTE_FEE
    assert ledger.order_total(order) == 0
    assert_reconciled()
    assert seller.notifications.filter(event_code="order.charged_back").exists()
    assert staff.notifications.filter(event_code="order.charged_back_staff").exists()


def test_nothing_releases_a_charged_back_order(paid, seller, buyer, stripe_sandbox):
    order = paid(DISPUTED_CARD)

    stripe_sandbox.advance_clock(days=30)
    assert services.escrow_release_due() == 0
    with pytest.raises(InvalidTransition):
        services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)
    assert not EscrowRelease.objects.filter(order=order).exists()
    assert harness.stripe_transfers_for(order) == []


def test_a_chargeback_won_before_release_lets_the_order_continue(
    paid, seller, buyer, django_capture_on_commit_callbacks
):
    order = paid(DISPUTED_CARD)

    chargeback = close(order, won=True, capture=django_capture_on_commit_callbacks)

    assert chargeback.status == ChargebackStatus.WON and chargeback.closed_at
    assert order.status == OrderStatus.FUNDED
    assert lines(order, LedgerAccount.BUYER_FUNDS_HELD) == -2500  # held again
    deliver_order(order=order, actor=seller, note="Sent")
    services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)
    assert [t.amount for t in harness.stripe_transfers_for(order)] == [2250]
    assert ledger.order_total(order) == 0
    assert_reconciled()


def test_a_chargeback_lost_before_release_ends_the_order_refunded(
    paid, seller, django_capture_on_commit_callbacks
):
    order = paid(DISPUTED_CARD)

    chargeback = close(order, won=False, capture=django_capture_on_commit_callbacks)

    assert chargeback.status == ChargebackStatus.LOST
    assert order.status == OrderStatus.REFUNDED
    assert lines(order, LedgerAccount.BUYER_FUNDS_HELD) == 0
    assert not EscrowRelease.objects.filter(order=order).exists()
    assert seller.notifications.filter(event_code="order.chargeback_closed").exists()


# --- After release ------------------------------------------------------------------------------


def released_then_disputed(paid, seller, capture):
    """A 25.00 order released (22.50 to the seller), then charged back by the buyer's bank. The
    platform has other money on its balance (another sale, available at once)."""
    paid(card="4000 0000 0000 0077", the_buyer=UserFactory(), quantity=3)
    order = paid()
    deliver_order(order=order, actor=seller, note="Sent")
    services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=order.buyer)
    payment = order.payments.get(status="succeeded")
    with capture(execute=True):
        control.dispute_create(payment.stripe_charge_id)
    order.refresh_from_db()
    return order


def test_a_chargeback_after_release_takes_the_sellers_share_back(
    paid, seller, django_capture_on_commit_callbacks
):
    order = released_then_disputed(paid, seller, django_capture_on_commit_callbacks)

    chargeback = Chargeback.objects.get(order=order)
    assert order.status == OrderStatus.DISPUTED and order.disputed_from == OrderStatus.RELEASED
    assert (chargeback.seller_share_cents, chargeback.reversed_cents, chargeback.debt_cents) == (
        2250,
        2250,
        0,
    )
    transfer = harness.stripe_transfers_for(order)[0]
    assert stripe().v1.transfers.retrieve(transfer.id).amount_reversed == 2250
    # The platform is out of its 2.50 commission and the 15.00 fee until the bank decides.
    assert lines(order, LedgerAccount.CHARGEBACK_LOSSES) == 250
    assert ledger.order_total(order) == 0
    assert_reconciled()

    lost = close(order, won=False, capture=django_capture_on_commit_callbacks)
    assert lost.status == ChargebackStatus.LOST
    assert order.status == OrderStatus.REFUNDED


def test_a_chargeback_won_after_release_gives_the_seller_back_their_share(
    paid, seller, stripe_sandbox, django_capture_on_commit_callbacks
):
    order = released_then_disputed(paid, seller, django_capture_on_commit_callbacks)

    won = close(order, won=True, capture=django_capture_on_commit_callbacks)

    assert won.status == ChargebackStatus.WON
    assert order.status == OrderStatus.RELEASED
    assert won.returned_cents == 2250 and won.stripe_return_transfer_id
    returned = stripe().v1.transfers.retrieve(won.stripe_return_transfer_id)
    assert (returned.amount, returned.destination) == (2250, connected_account_id_for(seller))
    assert lines(order, LedgerAccount.CHARGEBACK_LOSSES) == 0
    assert ledger.order_total(order) == 0
    assert_reconciled()


def test_a_won_chargeback_stripe_cannot_pay_back_yet_is_paid_by_the_retry_job(
    paid, seller, listing, stripe_sandbox, django_capture_on_commit_callbacks
):
    # Only this sale on the platform's balance: the money comes back pending.
    order = paid()
    deliver_order(order=order, actor=seller, note="Sent")
    services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=order.buyer)
    with django_capture_on_commit_callbacks(execute=True):
        control.dispute_create(order.payments.get(status="succeeded").stripe_charge_id)
    paid(the_buyer=UserFactory(), quantity=3)  # later sales, once they settle

    won = close(order, won=True, capture=django_capture_on_commit_callbacks)
    assert won.returned_cents == 2250 and not won.stripe_return_transfer_id  # funds pending

    stripe_sandbox.advance_clock(days=8)
    assert services.chargebacks_retry() == 1
    won.refresh_from_db()
    assert won.stripe_return_transfer_id
    assert services.chargebacks_retry() == 0
    assert lines(order, LedgerAccount.CHARGEBACK_LOSSES) == 0


def test_a_seller_who_cannot_cover_a_chargeback_owes_it(
    paid, seller, stripe_sandbox, django_capture_on_commit_callbacks
):
    order = paid()
    deliver_order(order=order, actor=seller, note="Sent")
    services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=order.buyer)
    account = connected_account_id_for(seller)
    stripe_sandbox.advance_clock(days=8)
    available = sum(
        b.amount
        for b in stripe().v1.balance.retrieve(options={"stripe_account": account}).available
    )
    stripe().v1.payouts.create(
        params={"amount": available, "currency": "usd"}, options={"stripe_account": account}
    )
    payment = order.payments.get(status="succeeded")
    with django_capture_on_commit_callbacks(execute=True):
        control.dispute_create(payment.stripe_charge_id)

    chargeback = Chargeback.objects.get(order=order)
    assert (chargeback.reversed_cents, chargeback.debt_cents) == (0, 2250)
    assert ledger.balance(LedgerAccount.seller_debt(seller.pk), currency="usd") == 2250

    # Won: the debt is forgiven, nothing is transferred (nothing was taken).
    won = close(order, won=True, capture=django_capture_on_commit_callbacks)
    assert won.returned_cents == 0
    assert ledger.balance(LedgerAccount.seller_debt(seller.pk), currency="usd") == 0
    assert ledger.order_total(order) == 0
    assert_reconciled()


# --- Events twice, in any order -----------------------------------------------------------------


def test_dispute_events_twice_and_reversed_book_once(
    client, listing, buyer, seller, stripe_sandbox, django_capture_on_commit_callbacks
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    _, url = services.payment_checkout_start(
        order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
    )
    with django_capture_on_commit_callbacks(execute=True):
        pay_on_checkout_page(client, url)  # the payment's own events arrive
    with stripe_sandbox.webhooks_held():
        control.dispute_create(order.payments.get(status="succeeded").stripe_charge_id)
        control.dispute_close(dispute_of(order).id, won=True)
    held = list(reversed(stripe_sandbox.pending_deliveries()))
    assert {control.event(d.event_id)["type"] for d in held} >= {
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    }

    with django_capture_on_commit_callbacks(execute=True):
        stripe_sandbox.deliver(held, times=2)

    chargeback = Chargeback.objects.get(order=order)
    assert chargeback.status == ChargebackStatus.WON
    assert len(chargeback.booked_balance_transactions) == 2
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert lines(order, LedgerAccount.BUYER_FUNDS_HELD) == -2500
    assert ledger.order_total(order) == 0
    assert_reconciled()


# --- Evidence -----------------------------------------------------------------------------------


@pytest.fixture
def finance():
    person = StaffFactory(is_superuser=False)
    person.user_permissions.add(
        Permission.objects.get(codename="change_chargeback"),
        Permission.objects.get(codename="view_chargeback"),
    )
    return person


def test_only_finance_staff_answer_chargebacks(paid, finance):
    order = paid(DISPUTED_CARD)
    chargeback = Chargeback.objects.get(order=order)
    for outsider in (UserFactory(), StaffFactory(is_superuser=False), order.seller):
        with pytest.raises(NotAllowed):
            services.chargeback_evidence_draft(chargeback=chargeback, actor=outsider)


def test_staff_draft_edit_and_submit_in_the_admin(
    client, paid, finance, django_capture_on_commit_callbacks
):
    order = paid(DISPUTED_CARD)
    chargeback = Chargeback.objects.get(order=order)
    client.force_login(finance)
    changelist = reverse("admin:escrow_chargeback_changelist")

    drafted = client.post(
        changelist,
        {"action": "draft_evidence", "_selected_action": [chargeback.pk]},
        follow=True,
    )
    assert "evidence drafted" in drafted.content.decode()
    page = client.get(reverse("admin:escrow_chargeback_change", args=[chargeback.pk]))
    assert page.status_code == 200 and order.buyer.email in page.content.decode()

    chargeback.refresh_from_db()
    form = {name: chargeback.evidence.get(name, "") for name in chargeback.evidence}
    form["uncategorized_text"] = "Checked by staff. losing_evidence"
    saved = client.post(reverse("admin:escrow_chargeback_change", args=[chargeback.pk]), form)
    assert saved.status_code == 302
    chargeback.refresh_from_db()
    assert chargeback.evidence["uncategorized_text"] == "Checked by staff. losing_evidence"

    with django_capture_on_commit_callbacks(execute=True):
        submitted = client.post(
            changelist,
            {"action": "submit_evidence", "_selected_action": [chargeback.pk]},
            follow=True,
        )
    assert "evidence submitted" in submitted.content.decode()
    chargeback.refresh_from_db()
    assert chargeback.status == ChargebackStatus.LOST
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED


def test_the_order_page_tells_the_seller_about_the_chargeback_and_its_deadline(
    client, paid, seller
):
    order = paid(DISPUTED_CARD)
    chargeback = Chargeback.objects.get(order=order)
    client.force_login(seller)

    html = client.get(reverse("order-detail", args=[order.pk])).content.decode()

    assert "The buyer's bank disputed this payment" in html
    assert 'data-chargeback-status="needs_response"' in html
    assert f"Bazaar answers by {chargeback.evidence_due_by:%-d %b %Y}" in html


def assert_reconciled():
    """Stripe and the ledger agree: every object Stripe moved money for is booked, and the
    platform's and the seller's balances are what the ledger says."""
    run = reconcile()
    assert [d.message for d in run.differences.all()] == []
