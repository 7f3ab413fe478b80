"""The escrow back office through the admin's HTTP interface, as a member of staff uses it.

Money moves through the real flow (sandbox checkout page, webhooks, Stripe transfers); lists that
only need rows use the factories.
"""

import pytest
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.factories import StaffFactory
from core.errors import InvalidTransition
from core.models import AuditEntry
from core.stripe_client import client as stripe_client
from escrow import services
from escrow.factories import (
    EscrowPaymentFactory,
    EscrowReleaseFactory,
    LedgerEntryFactory,
    OrderFactory,
    ReconciliationDifferenceFactory,
    ReconciliationRunFactory,
    StripeCustomerFactory,
    TransferReversalFactory,
    ledger_pair,
)
from escrow.models import (
    EscrowRelease,
    LedgerAccount,
    LedgerEntry,
    OrderStatus,
    PaymentStatus,
    ReconciliationRun,
    ReleaseStatus,
    ReleaseTrigger,
)
from escrow.testing import deliver_order, make_order, pay_on_checkout_page, place_order
from stripe_sandbox import testing as sandbox

pytestmark = pytest.mark.django_db

ORDERS_URL = reverse("admin:escrow_order_changelist")
SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


@pytest.fixture
def staff():
    return StaffFactory()


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def funded_order(client, listing, buyer, capture):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    with capture():
        _, url = services.payment_checkout_start(
            order=order, buyer=buyer, success_url=SUCCESS, cancel_url=CANCEL
        )
        pay_on_checkout_page(client, url)
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    return order


def transfers_of(order):
    listed = stripe_client().v1.transfers.list(params={"transfer_group": f"order-{order.pk}"})
    return list(listed.auto_paging_iter())


def run_action(client, action, orders_, url=ORDERS_URL):
    """Run an admin action and follow to the page that shows its messages."""
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(o.pk) for o in orders_], "index": 0}
    response = client.post(url, data, follow=True)
    assert response.redirect_chain, "the action should redirect back to the list"
    return response


def texts_at(response, level):
    """The messages a person sees on this page (followed) or on the next one (redirect)."""
    shown = response.context["messages"] if response.context else None
    if shown is None:
        shown = get_messages(response.wsgi_request)
    return [str(m) for m in shown if m.level == level]


def stripe_down(monkeypatch):
    sandbox.unreachable(monkeypatch)


# --- Release escrow now -------------------------------------------------------------------------

REASON = "Buyer confirmed receipt by email (ticket 4411)."
RELEASE_TEMPLATE = "admin/escrow/order/release_confirmation.html"


def delivered_order(client, listing, buyer, capture):
    order = funded_order(client, listing, buyer, capture)
    with capture():
        return deliver_order(order=order, actor=order.seller, note="Sent")


def confirm_release(client, orders_, reason=REASON):
    """Staff confirm the release on its confirmation page (posted without `index`, as the page
    does) and follow to the list that shows the outcome."""
    data = {
        "action": "release_escrow_now",
        ACTION_CHECKBOX_NAME: [str(o.pk) for o in orders_],
        "post": "yes",
        "reason": reason,
    }
    return client.post(ORDERS_URL, data, follow=True)


def test_release_escrow_now_first_shows_what_moves_and_asks_why(
    client, seller, listing, buyer, staff, capture
):
    order = delivered_order(client, listing, buyer, capture)
    client.force_login(staff)

    page = client.post(
        ORDERS_URL,
        {"action": "release_escrow_now", ACTION_CHECKBOX_NAME: [order.pk], "index": 0},
    )

    assert page.status_code == 200
    assert RELEASE_TEMPLATE in [t.name for t in page.templates]
    html = page.content.decode()
    row = html[html.index(f'<tr data-order="{order.pk}">') :]
    row = row[: row.index("</tr>")]
    assert "Delivered, in review" in row and "will be refused" not in row
    assert "US$25.00" in row and "US$2.50" in row  # held, commission
    assert "<td data-transfer>US$22.50</td>" in row  # to the seller
    assert 'name="reason"' in html and "Yes, release the escrow" in html
    assert "<script" not in html.split("</head>")[1] and "style=" not in html
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED  # nothing moved yet
    assert not EscrowRelease.objects.exists()
    assert transfers_of(order) == []


def test_release_escrow_now_confirmed_makes_exactly_one_transfer_and_keeps_the_reason(
    client, seller, listing, buyer, staff, capture
):
    order = delivered_order(client, listing, buyer, capture)
    client.force_login(staff)

    with capture():
        response = confirm_release(client, [order])

    assert response.status_code == 200
    assert response.redirect_chain, "the confirmed action redirects back to the list"
    assert texts_at(response, messages.SUCCESS) == ["Released the escrow of 1 order to its seller."]
    order.refresh_from_db()
    assert order.status == OrderStatus.RELEASED
    decided = EscrowRelease.objects.get(order=order)
    assert (decided.trigger, decided.actor, decided.status) == (
        ReleaseTrigger.STAFF,
        staff,
        ReleaseStatus.TRANSFERRED,
    )
    [transfer] = transfers_of(order)
    assert transfer.id == decided.stripe_transfer_id
    assert transfer.amount == 2250
    assert transfer.destination == seller.seller_profile.connected_account.stripe_account_id
    created = AuditEntry.objects.get(action="escrow.release.created")
    assert (created.actor, created.after["reason"]) == (staff, REASON)
    assert (
        AuditEntry.objects.filter(action="escrow.order.released_by_staff", actor=staff).count() == 1
    )

    # Confirming again (a second tab, a double click) moves no more money.
    with capture():
        again = confirm_release(client, [order])
    assert texts_at(again, messages.INFO) == [f"Order #{order.pk} was already released."]
    assert texts_at(again, messages.SUCCESS) == []
    assert len(transfers_of(order)) == 1


@pytest.mark.parametrize("reason", ["", "   "])
def test_release_without_a_reason_shows_the_form_error_and_moves_nothing(
    client, seller, listing, buyer, staff, capture, reason
):
    order = delivered_order(client, listing, buyer, capture)
    client.force_login(staff)

    with capture():
        response = confirm_release(client, [order], reason=reason)

    assert response.status_code == 200
    assert not response.redirect_chain  # the confirmation page again
    assert RELEASE_TEMPLATE in [t.name for t in response.templates]
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    html = response.content.decode()
    assert html.index('class="errorlist') < html.index('name="reason"')  # next to the field
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert not EscrowRelease.objects.exists()
    assert transfers_of(order) == []


def test_release_escrow_now_refuses_an_order_that_was_not_delivered(
    client, seller, listing, buyer, staff, capture
):
    order = funded_order(client, listing, buyer, capture)
    audit_before = AuditEntry.objects.count()
    client.force_login(staff)

    page = client.post(
        ORDERS_URL,
        {"action": "release_escrow_now", ACTION_CHECKBOX_NAME: [order.pk], "index": 0},
    )
    assert "not delivered: will be refused" in page.content.decode()
    with capture():
        response = confirm_release(client, [order])

    assert texts_at(response, messages.ERROR) == [
        f"Order #{order.pk}: This order is paid, held in escrow, not delivered: staff release "
        "only delivered orders. Settle it through a dispute resolution."
    ]
    assert texts_at(response, messages.SUCCESS) == []
    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert not EscrowRelease.objects.exists()
    assert AuditEntry.objects.count() == audit_before
    assert transfers_of(order) == []


def test_staff_release_of_an_undelivered_order_is_refused_by_the_service(
    client, seller, listing, buyer, staff, capture
):
    order = funded_order(client, listing, buyer, capture)

    with pytest.raises(InvalidTransition, match="dispute resolution"):
        services.escrow_release(
            order=order, trigger=ReleaseTrigger.STAFF, actor=staff, reason=REASON
        )

    order.refresh_from_db()
    assert order.status == OrderStatus.FUNDED
    assert not EscrowRelease.objects.exists()


def test_release_escrow_now_on_an_unfunded_order_is_an_error_and_changes_nothing(
    client, seller, listing, buyer, staff, capture
):
    order = place_order(buyer=buyer, listing_id=listing.pk)
    audit_before = AuditEntry.objects.count()
    client.force_login(staff)

    with capture():
        response = confirm_release(client, [order])

    assert response.status_code == 200
    assert texts_at(response, messages.ERROR) == [
        f"Order #{order.pk}: An order that is awaiting payment holds no money to release."
    ]
    assert texts_at(response, messages.SUCCESS) == []
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert not EscrowRelease.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert AuditEntry.objects.count() == audit_before
    assert transfers_of(order) == []


def test_release_reports_each_order_of_a_mixed_selection(
    client, seller, listing, buyer, staff, capture
):
    delivered = delivered_order(client, listing, buyer, capture)
    unpaid = place_order(buyer=buyer, listing_id=listing.pk)
    client.force_login(staff)

    page = client.post(
        ORDERS_URL,
        {
            "action": "release_escrow_now",
            ACTION_CHECKBOX_NAME: [delivered.pk, unpaid.pk],
            "index": 0,
        },
    )
    assert "You are about to release the escrow of these 2 orders" in page.content.decode()
    with capture():
        response = confirm_release(client, [delivered, unpaid])

    assert response.status_code == 200
    html = response.content.decode()
    assert "Released the escrow of 1 order to its seller." in html
    assert f"Order #{unpaid.pk}: An order that is awaiting payment" in html
    assert len(transfers_of(delivered)) == 1


def test_the_release_page_takes_a_fixed_number_of_queries(
    client, seller, buyer, staff, django_assert_max_num_queries
):
    orders_ = [make_order(seller, buyer, status=OrderStatus.DELIVERED) for _ in range(5)]
    client.force_login(staff)

    with django_assert_max_num_queries(12):
        page = client.post(
            ORDERS_URL,
            {
                "action": "release_escrow_now",
                ACTION_CHECKBOX_NAME: [o.pk for o in orders_],
                "index": 0,
            },
        )
    assert page.content.decode().count("<td data-transfer>US$22.50</td>") == 5


def test_a_transfer_refused_during_release_is_reported_then_retried(
    client, seller, listing, buyer, staff, capture, monkeypatch
):
    order = delivered_order(client, listing, buyer, capture)
    client.force_login(staff)

    with monkeypatch.context() as patch:
        stripe_down(patch)
        response = confirm_release(client, [order])
    [warning] = texts_at(response, messages.WARNING)
    assert f"Order #{order.pk}: Stripe refused the transfer to the seller" in warning
    assert "could not be reached" in warning
    assert EscrowRelease.objects.get(order=order).status == ReleaseStatus.FAILED
    assert transfers_of(order) == []

    with capture():
        retried = run_action(client, "retry_transfer", [order])

    assert texts_at(retried, messages.SUCCESS) == ["Made 1 transfer to the seller."]
    decided = EscrowRelease.objects.get(order=order)
    assert decided.status == ReleaseStatus.TRANSFERRED
    [transfer] = transfers_of(order)
    assert transfer.id == decided.stripe_transfer_id


def test_retry_says_why_there_is_nothing_to_retry(client, seller, listing, buyer, staff, capture):
    unreleased = funded_order(client, listing, buyer, capture)
    done = delivered_order(client, listing, buyer, capture)
    with capture():
        services.escrow_release(order=done, trigger=ReleaseTrigger.STAFF, actor=staff)
    client.force_login(staff)

    response = run_action(client, "retry_transfer", [unreleased, done])

    assert texts_at(response, messages.WARNING) == [
        f"Order #{unreleased.pk} has not been released: there is no transfer to retry."
    ]
    assert texts_at(response, messages.INFO) == [
        f"Order #{done.pk}: the transfer to the seller was already made."
    ]
    assert len(transfers_of(done)) == 1


def test_retry_from_the_releases_list(client, seller, listing, buyer, staff, capture, monkeypatch):
    order = delivered_order(client, listing, buyer, capture)
    with monkeypatch.context() as patch:
        stripe_down(patch)
        decided = services.escrow_release(order=order, trigger=ReleaseTrigger.STAFF, actor=staff)
    assert decided.status == ReleaseStatus.FAILED
    client.force_login(staff)

    with capture():
        response = client.post(
            reverse("admin:escrow_escrowrelease_changelist"),
            {"action": "retry_transfer", ACTION_CHECKBOX_NAME: [decided.pk], "index": 0},
        )

    assert texts_at(response, messages.SUCCESS) == ["Made 1 transfer to the seller."]
    assert len(transfers_of(order)) == 1


class TransferRequests:
    """Counts the transfer requests Stripe receives; `die=True` makes the caller die right
    after sending one (a worker killed mid-call): Stripe makes the transfer, nobody hears."""

    def __init__(self):
        self.sent = 0
        self.die = False

    def __call__(self, method, url, headers, body, handle):
        answer = handle(method, url, headers, body)
        if method.upper() == "POST" and url.endswith("/v1/transfers"):
            self.sent += 1
            if self.die:
                raise SystemExit("the worker was killed mid-call")
        return answer


def test_a_transfer_request_in_flight_is_left_to_its_caller_until_it_times_out(
    client, seller, listing, buyer, staff, capture, monkeypatch, stripe_sandbox, settings
):
    order = delivered_order(client, listing, buyer, capture)
    requests = TransferRequests()
    sandbox.intercept(monkeypatch, requests)
    requests.die = True
    with pytest.raises(SystemExit):
        services.escrow_release(order=order, trigger=ReleaseTrigger.STAFF, actor=staff)
    requests.die = False
    decided = EscrowRelease.objects.get(order=order)
    assert (decided.status, requests.sent) == (ReleaseStatus.PENDING, 1)
    client.force_login(staff)

    retried = run_action(client, "retry_transfer", [order])
    assert services.release_transfers_retry() == []

    assert texts_at(retried, messages.INFO) == [
        f"Order #{order.pk}: the transfer to the seller is being made right now; look again "
        "in a few minutes."
    ]
    assert requests.sent == 1  # nothing sent beside the request in flight
    stripe_sandbox.advance_clock(seconds=settings.ESCROW_TRANSFER_TIMEOUT_SECONDS + 1)

    with capture():
        assert services.release_transfers_retry() == [ReleaseStatus.TRANSFERRED]

    decided.refresh_from_db()
    assert (decided.status, decided.transfer_in_flight_since) == (ReleaseStatus.TRANSFERRED, None)
    assert requests.sent == 2  # the same idempotency key: Stripe answered with the first one
    assert [t.id for t in transfers_of(order)] == [decided.stripe_transfer_id]


def test_staff_who_may_only_look_get_no_escrow_actions(client):
    viewer = StaffFactory(is_superuser=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    order = OrderFactory(delivered=True)
    client.force_login(viewer)

    page = client.get(ORDERS_URL)
    response = client.post(
        ORDERS_URL,
        {"action": "release_escrow_now", ACTION_CHECKBOX_NAME: [order.pk], "index": 0},
    )
    confirmed = confirm_release(client, [order])

    assert page.status_code == 200
    assert "release_escrow_now" not in page.content.decode()
    assert response.status_code == 200  # the list again: the action is not offered
    assert RELEASE_TEMPLATE not in [t.name for t in response.templates]
    assert RELEASE_TEMPLATE not in [t.name for t in confirmed.templates]
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert not EscrowRelease.objects.exists()


# --- Order pages --------------------------------------------------------------------------------


def test_the_order_page_shows_its_money_and_timeline(
    client, seller, listing, buyer, staff, capture
):
    order = funded_order(client, listing, buyer, capture)
    with capture():
        deliver_order(order=order, actor=seller, note="Posted")
        decided = services.escrow_release(order=order, trigger=ReleaseTrigger.BUYER, actor=buyer)
    TransferReversalFactory(
        release=decided, stripe_reversal_id="trr_shown", amount_cents=300, currency="usd"
    )
    client.force_login(staff)

    response = client.get(reverse("admin:escrow_order_change", args=[order.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    payment = order.payments.get(status=PaymentStatus.SUCCEEDED)
    assert payment.stripe_charge_id in html  # payments inline
    assert decided.stripe_transfer_id in html  # release inline
    assert "US$22.50" in html  # the transfer
    assert "buyer_funds_held" in html and "platform_commission" in html  # ledger lines
    for action in (
        "escrow.order.created",
        "escrow.order.funded",
        "escrow.order.shipped",
        "escrow.order.received",
        "escrow.order.approved",
    ):
        assert action in html  # timeline
    assert "trr_shown" in html and "US$3.00" in html  # reversals
    assert 'name="_save"' not in html  # read-only: nothing to save


def test_a_second_payment_shows_in_the_admin_as_paid_twice_to_refund(client, staff):
    paid = EscrowPaymentFactory()
    twice = EscrowPaymentFactory(
        order=paid.order, status=PaymentStatus.DUPLICATE, succeeded_at=paid.succeeded_at
    )
    client.force_login(staff)

    listed = client.get(
        reverse("admin:escrow_escrowpayment_changelist"), {"status": "duplicate"}
    ).content.decode()
    order_page = client.get(
        reverse("admin:escrow_order_change", args=[paid.order_id])
    ).content.decode()

    assert "Paid twice" in listed and twice.stripe_charge_id in listed
    assert paid.stripe_charge_id not in listed
    assert "Paid twice" in order_page


def test_the_order_page_shows_the_last_payment_error_and_the_release_reversed(client, staff):
    unpaid = OrderFactory()
    EscrowPaymentFactory(
        order=unpaid,
        status=PaymentStatus.FAILED,
        failure_message="Your card has insufficient funds.",
        stripe_charge_id="",
    )
    release = EscrowReleaseFactory()
    for amount in (300, 200):
        TransferReversalFactory(release=release, amount_cents=amount)
    client.force_login(staff)

    unpaid_page = client.get(reverse("admin:escrow_order_change", args=[unpaid.pk]))
    release_page = client.get(reverse("admin:escrow_escrowrelease_change", args=[release.pk]))

    assert "Your card has insufficient funds." in unpaid_page.content.decode()
    assert "US$5.00" in release_page.content.decode()  # 3.00 + 2.00, from the reversal rows


def test_orders_are_searchable_by_id_title_and_emails(client, staff):
    mug = OrderFactory(listing__title="Blue mug", buyer__email="ann@example.com")
    vase = OrderFactory(listing__title="Tall vase")
    client.force_login(staff)

    def found(query):
        response = client.get(ORDERS_URL, {"q": query})
        return set(response.context["cl"].result_list)

    assert found("mug") == {mug}
    assert found(str(vase.pk)) == {vase}
    assert found(f"#{mug.pk}") == {mug}
    assert found("ann@example.com") == {mug}
    assert found(vase.seller.email) == {vase}


def test_orders_filter_by_status_and_currency(client, staff):
    funded = OrderFactory(funded=True)
    euro = OrderFactory(listing__currency="eur")
    client.force_login(staff)

    by_status = client.get(ORDERS_URL, {"status__exact": "funded"})
    by_currency = client.get(ORDERS_URL, {"currency__exact": "eur"})

    assert list(by_status.context["cl"].result_list) == [funded]
    assert list(by_currency.context["cl"].result_list) == [euro]


def make_orders(count):
    for i in range(count):
        release = EscrowReleaseFactory()
        EscrowPaymentFactory(order=release.order)
        if i % 3 == 0:
            OrderFactory(funded=True)


@pytest.mark.parametrize("count", [3, 30])
def test_the_orders_list_takes_the_same_queries_for_3_or_30(
    client, staff, count, django_assert_max_num_queries
):
    make_orders(count)
    client.force_login(staff)

    # Up to 9 for the page (the orders' releases in one), and one for whether the staff member
    # has a two-factor device.
    with django_assert_max_num_queries(10):
        response = client.get(ORDERS_URL)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == count + (count + 2) // 3
    assert "Transferred" in response.content.decode()


# --- Escrow pages -------------------------------------------------------------------------------


def escrow_rows(count):
    for _ in range(count):
        release = EscrowReleaseFactory()
        EscrowPaymentFactory(order=release.order)
        TransferReversalFactory(release=release)
        ledger_pair(order=release.order, amount_cents=2500)
        ledger_pair(
            order=release.order,
            debit=LedgerAccount.BUYER_FUNDS_HELD,
            credit=LedgerAccount.seller_payable(release.order.seller_id),
            amount_cents=2250,
        )
        StripeCustomerFactory(user=release.order.buyer)
        ReconciliationDifferenceFactory(order=release.order)


ESCROW_MODELS = [
    "stripecustomer",
    "escrowpayment",
    "escrowrelease",
    "transferreversal",
    "ledgerentry",
    "reconciliationrun",
    "reconciliationdifference",
]


@pytest.mark.parametrize("model", ESCROW_MODELS)
@pytest.mark.parametrize("count", [3, 30])
def test_every_escrow_list_renders_with_flat_queries(
    client, staff, model, count, django_assert_max_num_queries
):
    escrow_rows(count)
    client.force_login(staff)

    with django_assert_max_num_queries(10):
        response = client.get(reverse(f"admin:escrow_{model}_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count >= count


@pytest.mark.parametrize("model", ESCROW_MODELS)
def test_every_escrow_page_renders_read_only(client, staff, model):
    escrow_rows(1)
    client.force_login(staff)
    from django.apps import apps

    obj = apps.get_model("escrow", model).objects.first()

    page = client.get(reverse(f"admin:escrow_{model}_change", args=[obj.pk]))
    add = client.get(reverse(f"admin:escrow_{model}_add"))
    delete = client.get(reverse(f"admin:escrow_{model}_delete", args=[obj.pk]))

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert add.status_code == 403
    assert delete.status_code == 403


def test_the_escrow_app_index_and_payment_page_hide_the_client_secret(client, staff):
    payment = EscrowPaymentFactory(client_secret="pi_123_secret_hush")
    client.force_login(staff)

    index = client.get(reverse("admin:app_list", args=["escrow"]))
    page = client.get(reverse("admin:escrow_escrowpayment_change", args=[payment.pk]))

    assert index.status_code == 200
    assert page.status_code == 200
    assert payment.stripe_charge_id in page.content.decode()
    assert "secret_hush" not in page.content.decode()


# --- The ledger ---------------------------------------------------------------------------------

LEDGER_URL = reverse("admin:escrow_ledgerentry_changelist")


def totals_of(response):
    return {
        (row["account"], row["currency"]): (row["debits"], row["credits"], row["balance"])
        for row in response.context["ledger_totals"]
    }


def test_the_ledger_shows_totals_per_account_of_everything_filtered(client, staff):
    order = OrderFactory(funded=True)
    ledger_pair(order=order, amount_cents=2500)  # stripe_balance / buyer_funds_held
    ledger_pair(
        order=order,
        debit=LedgerAccount.STRIPE_FEES,
        credit=LedgerAccount.STRIPE_BALANCE,
        amount_cents=103,
    )
    euro = OrderFactory(funded=True, listing__currency="eur")
    ledger_pair(order=euro, amount_cents=900)
    client.force_login(staff)

    everything = client.get(LEDGER_URL)
    balance_only = client.get(LEDGER_URL, {"account": LedgerAccount.STRIPE_BALANCE})
    euros = client.get(LEDGER_URL, {"currency__exact": "eur"})

    assert totals_of(everything) == {
        ("buyer_funds_held", "eur"): (0, -900, -900),
        ("buyer_funds_held", "usd"): (0, -2500, -2500),
        ("stripe_balance", "eur"): (900, 0, 900),
        ("stripe_balance", "usd"): (2500, -103, 2397),
        ("stripe_fees", "usd"): (103, 0, 103),
    }
    html = everything.content.decode()
    assert "US$23.97" in html and "€9.00" in html
    assert "The lines balance." in html
    assert totals_of(balance_only) == {
        ("stripe_balance", "eur"): (900, 0, 900),
        ("stripe_balance", "usd"): (2500, -103, 2397),
    }
    assert "The lines do not balance" in balance_only.content.decode()
    assert set(totals_of(euros)) == {("buyer_funds_held", "eur"), ("stripe_balance", "eur")}


def test_the_ledger_filters_all_seller_payables_or_one(client, staff):
    first, second = OrderFactory(funded=True), OrderFactory(funded=True)
    for order, amount in ((first, 100), (second, 250)):
        ledger_pair(
            order=order,
            debit=LedgerAccount.BUYER_FUNDS_HELD,
            credit=LedgerAccount.seller_payable(order.seller_id),
            amount_cents=amount,
        )
    client.force_login(staff)

    payables = client.get(LEDGER_URL, {"account": "seller_payable"})
    one = client.get(LEDGER_URL, {"account": LedgerAccount.seller_payable(second.seller_id)})

    assert payables.context["cl"].result_count == 2
    assert sum(row[2] for row in totals_of(payables).values()) == -350
    assert totals_of(one) == {
        (LedgerAccount.seller_payable(second.seller_id), "usd"): (0, -250, -250)
    }
    assert f"?account=seller_payable%3A{second.seller_id}" in payables.content.decode()


def test_the_ledger_cannot_be_edited_through_the_admin(client, staff):
    line = LedgerEntryFactory()
    client.force_login(staff)

    response = client.post(
        reverse("admin:escrow_ledgerentry_change", args=[line.pk]),
        {"amount_cents": 1, "account": "refunds"},
    )

    assert response.status_code == 403
    line.refresh_from_db()
    assert (line.amount_cents, line.account) == (1000, LedgerAccount.STRIPE_BALANCE)


# --- Reconciliation -----------------------------------------------------------------------------

RUNS_URL = reverse("admin:escrow_reconciliationrun_changelist")
RUN_NOW_URL = reverse("admin:escrow_reconciliationrun_run")


def test_run_reconciliation_now_runs_and_opens_the_run(
    client, seller, listing, buyer, staff, capture
):
    order = funded_order(client, listing, buyer, capture)
    client.force_login(staff)

    listing_page = client.get(RUNS_URL)
    healthy = client.post(RUN_NOW_URL)
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                order=order,
                account=LedgerAccount.REFUNDS,
                amount_cents=40,
                currency="usd",
                memo="By hand",
            )
        ]
    )
    unhealthy = client.post(RUN_NOW_URL, follow=True)

    assert "Run reconciliation now" in listing_page.content.decode()
    first, second = ReconciliationRun.objects.order_by("pk")
    assert healthy.status_code == 302
    assert healthy["Location"] == reverse("admin:escrow_reconciliationrun_change", args=[first.pk])
    assert texts_at(healthy, messages.SUCCESS) == [
        "Reconciliation finished: 1 orders checked, 0 differences."
    ]
    assert second.difference_count == 2
    html = unhealthy.content.decode()
    assert "Reconciliation finished: 1 orders checked, 2 differences." in html
    assert "Order&#x27;s ledger lines do not sum to zero" in html
    assert f"Order #{order.pk}" in html


def test_run_reconciliation_now_takes_a_post_and_permission(client, staff):
    viewer = StaffFactory(is_superuser=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_reconciliationrun"))
    client.force_login(staff)
    assert client.get(RUN_NOW_URL).status_code == 405

    client.force_login(viewer)
    page = client.get(RUNS_URL)
    refused = client.post(RUN_NOW_URL)

    assert "Run reconciliation now" not in page.content.decode()
    assert refused.status_code == 302
    assert texts_at(refused, messages.ERROR) == ["You may not run a reconciliation."]
    assert not ReconciliationRun.objects.exists()


def test_a_run_page_lists_its_differences(client, staff):
    run = ReconciliationRunFactory(difference_count=2)
    first = ReconciliationDifferenceFactory(run=run, message="First thing off")
    ReconciliationDifferenceFactory(run=run, order=None, kind="unknown_transfer", message="Stray")
    client.force_login(staff)

    response = client.get(reverse("admin:escrow_reconciliationrun_change", args=[run.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "First thing off" in html and "Stray" in html
    assert "Transfer amount differs" in html
    assert "Transfer on Stripe that Bazaar does not know" in html
    assert reverse("admin:escrow_order_change", args=[first.order_id]) in html
