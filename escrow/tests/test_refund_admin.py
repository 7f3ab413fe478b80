"""Refunds in the back office, through the admin's HTTP interface: the Order admin's "Refund the
buyer…" action and its intermediate page, the refunds list and inline, the ledger's seller
debts. Money moves through the real stripe SDK against the offline sandbox."""

import re

import pytest
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.factories import StaffFactory
from escrow import services
from escrow.factories import EscrowRefundFactory, ledger_pair
from escrow.models import EscrowRefund, LedgerAccount, RefundInitiator, RefundStatus
from escrow.testing import place_order
from escrow.tests.refunding import drain, paid_order, released, stripe_refunds
from stripe_sandbox import testing as sandbox

pytestmark = pytest.mark.django_db

ORDERS_URL = reverse("admin:escrow_order_changelist")
REFUNDS_URL = reverse("admin:escrow_escrowrefund_changelist")
LEDGER_URL = reverse("admin:escrow_ledgerentry_changelist")


def staff_with(*codenames):
    member = StaffFactory(is_superuser=False)
    member.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return member


@pytest.fixture
def finance():
    """Finance staff: may look at orders and their refunds, and refund them."""
    return staff_with("view_order", "view_escrowrefund", "add_escrowrefund")


def _text(response):
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def texts_at(response, level):
    shown = response.context["messages"] if response.context else None
    if shown is None:
        shown = get_messages(response.wsgi_request)
    return [str(m) for m in shown if m.level == level]


def ask_to_refund(client, orders):
    """Choose the action on the orders list: the intermediate page (or a message)."""
    return client.post(
        ORDERS_URL,
        {
            "action": "refund_buyer",
            ACTION_CHECKBOX_NAME: [str(o.pk) for o in orders],
            "index": 0,
        },
        follow=True,
    )


def confirm_refund(client, order, amount, reason="Goodwill gesture", client_key="admin-key"):
    """Submit the intermediate page's form, as its button does."""
    return client.post(
        ORDERS_URL,
        {
            "action": "refund_buyer",
            ACTION_CHECKBOX_NAME: [str(order.pk)],
            "post": "yes",
            "amount": amount,
            "reason": reason,
            "client_key": client_key,
        },
        follow=True,
    )


# --- "Refund the buyer…" ------------------------------------------------------------------------


def test_finance_staff_refund_part_of_an_order_after_confirming_on_a_page(
    client, listing, buyer, finance
):
    order = paid_order(client, listing, buyer)
    client.force_login(finance)

    page = ask_to_refund(client, [order])

    assert page.status_code == 200
    assert page.redirect_chain == []  # the intermediate page, not the list
    text = _text(page)
    assert (
        "Paid, held in escrow: paid US$50.00, refunded US$0.00, can still be refunded US$50.00"
        in (text)
    )
    assert "at most US$50.00" in text
    html = page.content.decode()
    assert re.search(r'name="amount" value="50.00"', html)
    assert 'name="reason"' in html

    done = confirm_refund(client, order, "15.00", reason="Late delivery")

    assert done.redirect_chain, "back to the orders list"
    assert texts_at(done, messages.SUCCESS) == [
        f"Order #{order.pk}: refunded US$15.00 to the buyer."
    ]
    made = EscrowRefund.objects.get()
    assert (made.initiator, made.actor, made.reason, made.amount_cents, made.status) == (
        RefundInitiator.STAFF,
        finance,
        "Late delivery",
        1500,
        RefundStatus.SUCCEEDED,
    )
    assert [r.amount for r in stripe_refunds(order)] == [1500]
    # The same form sent again (a double click) refunds nothing more.
    confirm_refund(client, order, "15.00", reason="Late delivery")
    assert EscrowRefund.objects.count() == 1


def test_after_release_the_message_says_what_the_seller_gave_back_and_owes(
    client, listing, buyer, finance, stripe_sandbox
):
    order = released(paid_order(client, listing, buyer))
    drain(order.seller, stripe_sandbox)
    client.force_login(finance)

    page = ask_to_refund(client, [order])
    done = confirm_refund(client, order, "20.00")

    assert "takes US$45.00 back from the seller's Stripe balance" in _text(page)
    assert texts_at(done, messages.SUCCESS) == [
        f"Order #{order.pk}: refunded US$20.00 to the buyer. US$0.00 was taken back from the "
        "seller's Stripe balance; US$18.00 it could not cover is the seller's debt, recovered "
        "from their next releases."
    ]


@pytest.mark.parametrize(
    ("amount", "reason", "field", "error"),
    [
        ("50.01", "Too much", "amount", "At most US$50.00 can still be refunded."),
        ("ten", "Words", "amount", "Enter an amount in USD, like 12.50."),
        ("0.001", "Too fine", "amount", "USD amounts have at most 2 decimal places."),
        ("5.00", "", "reason", "This field is required."),
    ],
)
def test_bad_input_shows_the_page_again_with_the_error_and_refunds_nothing(
    client, listing, buyer, finance, amount, reason, field, error
):
    order = paid_order(client, listing, buyer)
    client.force_login(finance)

    page = confirm_refund(client, order, amount, reason=reason)

    assert page.status_code == 200
    assert page.redirect_chain == []
    assert page.context["form"].errors[field] == [error]
    assert error in page.content.decode()
    assert not EscrowRefund.objects.exists()
    assert stripe_refunds(order) == []


def test_a_refusal_is_an_error_message_not_an_error_page(client, listing, buyer, finance):
    order = place_order(buyer=buyer, listing_id=listing.pk)  # not paid
    client.force_login(finance)

    page = ask_to_refund(client, [order])
    done = confirm_refund(client, order, "5.00")

    assert "Nothing of this order can be refunded now." in _text(page)
    assert done.status_code == 200
    assert texts_at(done, messages.ERROR) == [
        f"Order #{order.pk}: nothing was refunded. An order that is awaiting payment has "
        "nothing to refund."
    ]
    assert not EscrowRefund.objects.exists()


def test_stripe_unreachable_leaves_the_refund_pending_and_says_so(
    client, listing, buyer, finance, monkeypatch
):
    order = paid_order(client, listing, buyer)
    client.force_login(finance)

    with monkeypatch.context() as patch:
        sandbox.unreachable(patch)
        done = confirm_refund(client, order, "5.00")

    [warning] = texts_at(done, messages.WARNING)
    assert warning.startswith(f"Order #{order.pk}: the refund of US$5.00 is on its way")
    assert "Bazaar retries it automatically." in warning
    assert EscrowRefund.objects.get().status == RefundStatus.PENDING


def test_one_order_at_a_time(client, listing, buyer, finance):
    first, second = paid_order(client, listing, buyer), paid_order(client, listing, buyer)
    client.force_login(finance)

    response = ask_to_refund(client, [first, second])

    assert texts_at(response, messages.WARNING) == [
        "Choose one order to refund: the amount is for one order."
    ]
    assert not EscrowRefund.objects.exists()


def test_staff_without_the_refund_permission_are_not_offered_it(client, listing, buyer):
    order = paid_order(client, listing, buyer)
    support = staff_with("view_order", "change_order")
    client.force_login(support)

    changelist = client.get(ORDERS_URL)
    tried = ask_to_refund(client, [order])
    sneaked = confirm_refund(client, order, "5.00")

    assert 'value="refund_buyer"' not in changelist.content.decode()
    for response in (tried, sneaked):
        assert response.status_code == 200
        assert "No action selected." in texts_at(response, messages.WARNING)
    assert not EscrowRefund.objects.exists()


# --- Refund rows ----------------------------------------------------------------------------


def test_the_order_page_lists_its_refunds_and_what_was_refunded(client, listing, buyer, finance):
    order = released(paid_order(client, listing, buyer))
    services.refund_create(
        order=order,
        amount_cents=1000,
        reason="Scratched glaze",
        initiator=RefundInitiator.SELLER,
        actor=order.seller,
    )
    client.force_login(finance)

    page = client.get(reverse("admin:escrow_order_change", args=[order.pk]))

    assert page.status_code == 200
    text = _text(page)
    assert "Scratched glaze" in text
    assert "US$10.00 (part)" in text  # the order's "refunded" field
    assert "US$9.00" in text  # taken back from the seller
    assert 'name="_save"' not in page.content.decode()


@pytest.mark.parametrize("count", [3, 30])
def test_the_refunds_list_filters_and_stays_flat(
    client, finance, count, django_assert_max_num_queries
):
    for i in range(count):
        refund = EscrowRefundFactory(
            initiator=[RefundInitiator.SELLER, RefundInitiator.STAFF][i % 2]
        )
        if i % 3 == 0:
            EscrowRefund.objects.filter(pk=refund.pk).update(
                after_release=True, seller_share_cents=900, debt_cents=400
            )
    client.force_login(finance)

    # As the other escrow lists (test_admin.py), plus the permission lookups of staff who are
    # not superusers; the order links are built from ids alone.
    with django_assert_max_num_queries(11):
        everything = client.get(REFUNDS_URL)
    staff_only = client.get(REFUNDS_URL, {"initiator__exact": "staff"})
    after = client.get(REFUNDS_URL, {"after_release__exact": "1"})
    failed = client.get(REFUNDS_URL, {"status__exact": "failed"})

    assert everything.context["cl"].result_count == count
    assert staff_only.context["cl"].result_count == count // 2
    assert after.context["cl"].result_count == len(range(0, count, 3))
    assert failed.context["cl"].result_count == 0
    assert "US$4.00" in _text(after)  # the debt column
    first = EscrowRefund.objects.order_by("pk").first()
    order_page = reverse("admin:escrow_order_change", args=[first.order_id])
    assert f'href="{order_page}"' in everything.content.decode()


def test_refund_rows_cannot_be_added_changed_or_deleted_by_hand(client, finance):
    refund = EscrowRefundFactory()
    client.force_login(StaffFactory())  # even a superuser

    page = client.get(reverse("admin:escrow_escrowrefund_change", args=[refund.pk]))
    add = client.get(reverse("admin:escrow_escrowrefund_add"))
    delete = client.get(reverse("admin:escrow_escrowrefund_delete", args=[refund.pk]))
    posted = client.post(
        reverse("admin:escrow_escrowrefund_change", args=[refund.pk]), {"amount_cents": 1}
    )

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert (add.status_code, delete.status_code, posted.status_code) == (403, 403, 403)
    refund.refresh_from_db()
    assert refund.amount_cents == 1000


def test_the_ledger_filters_seller_debts(client, finance):
    finance.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    refund = EscrowRefundFactory()
    seller_id = refund.order.seller_id
    ledger_pair(
        order=refund.order,
        debit=LedgerAccount.seller_debt(seller_id),
        credit=LedgerAccount.STRIPE_BALANCE,
        amount_cents=450,
    )
    ledger_pair(order=refund.order, amount_cents=2500)
    client.force_login(finance)

    everything = client.get(LEDGER_URL)
    debts = client.get(LEDGER_URL, {"account": "seller_debt"})

    assert "Seller debts (all sellers)" in _text(everything)
    assert debts.context["cl"].result_count == 1
    [row] = debts.context["ledger_totals"]
    assert (row["account"], row["balance"]) == (LedgerAccount.seller_debt(seller_id), 450)


def test_many_sellers_debts_are_one_line_of_the_totals(client, finance, monkeypatch):
    finance.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    for _ in range(3):
        refund = EscrowRefundFactory()
        ledger_pair(
            order=refund.order,
            debit=LedgerAccount.seller_debt(refund.order.seller_id),
            credit=LedgerAccount.STRIPE_BALANCE,
            amount_cents=100,
        )
    monkeypatch.setattr("escrow.admin.LEDGER_TOTALS_MAX_ROWS", 2)
    client.force_login(finance)

    page = client.get(LEDGER_URL, {"account": "seller_debt"})

    [row] = page.context["ledger_totals"]
    assert (row["account"], row["balance"]) == ("seller_debt:* (all sellers)", 300)
