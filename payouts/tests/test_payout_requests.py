"""A seller's payout requests through the real stripe SDK and the sandbox: the request checked
against what Stripe can pay out (less what the seller owes), Stripe's Payout made with our row's
idempotency key, its payout.* events moving the row, a failed payout returning the money with
words for the seller, and the ledger and reconcile agreeing at every step."""

import pytest
from django.db.models import Sum
from django.urls import reverse

from accounts.selectors import connected_account_id_for
from core.errors import NotAllowed, ValidationFailed
from core.stripe_client import client as stripe
from escrow.models import LedgerAccount, LedgerEntry
from escrow.reconcile import reconcile
from escrow.testing import sell_and_release
from notifications.models import Notification
from payouts import services as payouts
from payouts.models import Payout, PayoutMethod, PayoutStatus
from stripe_sandbox import testing as sandbox_testing

pytestmark = pytest.mark.django_db

SUCCESS = "http://testserver/orders/done?session={CHECKOUT_SESSION_ID}"
CANCEL = "http://testserver/orders/cancelled"


@pytest.fixture
def available(
    client, seller, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks, settings
):
    """A US$50.00 order released (the seller's share 45.00) and settled on their Stripe balance:
    US$45.00 available (the first payout delay is test_schedules.py's)."""
    settings.PAYOUT_FIRST_DELAY_DAYS = 0
    order = sell_and_release(
        client,
        buyer=buyer,
        seller=seller,
        listing=listing,
        capture=django_capture_on_commit_callbacks,
    )
    with django_capture_on_commit_callbacks(execute=True):
        stripe_sandbox.advance_clock(days=3)
    return order


def stripe_payout(payout):
    return stripe().v1.payouts.retrieve(
        payout.stripe_payout_id, options={"stripe_account": payout.stripe_account_id}
    )


def account_balance(account, currency="usd"):
    return (
        LedgerEntry.objects.filter(account=account, currency=currency).aggregate(
            total=Sum("amount_cents")
        )["total"]
        or 0
    )


def bank_account_use(account, number):
    """The seller's payouts go to Stripe's US test bank account `number` from now on
    (000111111116: payouts to it fail with no_account; 000123456789: they arrive)."""
    stripe().v1.accounts.external_accounts.create(
        account,
        params={
            "external_account": {
                "object": "bank_account",
                "country": "US",
                "currency": "usd",
                "routing_number": "110000000",
                "account_number": number,
            },
            "default_for_currency": True,
        },
    )


def advance(stripe_sandbox, capture, **when):
    with capture(execute=True):
        stripe_sandbox.advance_clock(**when)


def test_a_standard_payout_reaches_the_bank_and_the_books_agree(
    available, seller, stripe_sandbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        payout = payouts.payout_request_create(seller=seller, amount_cents=4500, currency="usd")

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING
    assert payout.fee_cents == 0
    made = stripe_payout(payout)
    assert (made.amount, made.method, made.metadata["bazaar_payout_id"]) == (
        4500,
        "standard",
        str(payout.pk),
    )
    assert account_balance(LedgerAccount.seller_payouts(seller.pk)) == 4500
    assert account_balance(LedgerAccount.seller_stripe_balance(seller.pk)) == -4500

    advance(stripe_sandbox, django_capture_on_commit_callbacks, days=3)

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert payout.arrival_date is not None
    assert Notification.objects.filter(recipient=seller, event_code="payout.paid").count() == 1
    run = reconcile()
    assert list(run.differences.values_list("message", flat=True)) == []


def instant_capable(seller):
    sandbox_testing.external_accounts_take_instant(connected_account_id_for(seller))


def test_an_instant_payout_to_a_bank_account_that_does_not_take_them_is_refused(available, seller):
    with pytest.raises(ValidationFailed, match="does not take instant payouts") as excinfo:
        payouts.payout_request_create(
            seller=seller, amount_cents=4500, currency="usd", method=PayoutMethod.INSTANT
        )

    assert list(excinfo.value.errors) == ["method"]
    assert not Payout.objects.exists()


def test_an_instant_payout_keeps_its_fee_out_and_books_it_as_owed(
    available, seller, stripe_sandbox, django_capture_on_commit_callbacks, settings
):
    instant_capable(seller)
    settings.PAYOUT_INSTANT_FEE_BPS = 150
    settings.PAYOUT_INSTANT_FEE_MIN_CENTS = 50
    quote = payouts.payout_quote(seller=seller, currency="usd", method=PayoutMethod.INSTANT)
    assert (quote.amount_cents, quote.fee_cents, quote.bank_cents) == (4500, 68, 4432)

    with django_capture_on_commit_callbacks(execute=True):
        payout = payouts.payout_request_create(
            seller=seller, amount_cents=4500, currency="usd", method=PayoutMethod.INSTANT
        )

    assert stripe_payout(payout).amount == 4432
    assert account_balance(LedgerAccount.seller_debt(seller.pk)) == 68
    assert account_balance(LedgerAccount.PAYOUT_FEES) == -68
    # What covers the fee stays on the seller's balance: nothing more can be paid out.
    assert payouts.payout_quote(seller=seller, currency="usd", method="standard").payable_cents == 0
    with pytest.raises(ValidationFailed, match="smallest payout"):
        payouts.payout_request_create(seller=seller, amount_cents=68, currency="usd")

    advance(stripe_sandbox, django_capture_on_commit_callbacks, hours=1)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert list(reconcile().differences.values_list("message", flat=True)) == []


@pytest.mark.parametrize(
    ("amount", "words"),
    [(4501, "at most US\\$45.00"), (99, "smallest payout is US\\$1.00"), (0, "smallest")],
)
def test_a_request_above_the_balance_or_below_the_minimum_is_refused_and_makes_nothing(
    available, seller, amount, words
):
    with pytest.raises(ValidationFailed, match=words) as excinfo:
        payouts.payout_request_create(seller=seller, amount_cents=amount, currency="usd")

    assert list(excinfo.value.errors) == ["amount_cents"]
    assert not Payout.objects.exists()
    account = connected_account_id_for(seller)
    assert stripe().v1.payouts.list(options={"stripe_account": account}).data == []


def test_money_still_settling_cannot_be_paid_out(
    client, seller, listing, buyer, stripe_sandbox, django_capture_on_commit_callbacks, settings
):
    settings.PAYOUT_FIRST_DELAY_DAYS = 0
    sell_and_release(
        client,
        buyer=buyer,
        seller=seller,
        listing=listing,
        capture=django_capture_on_commit_callbacks,
    )

    with pytest.raises(ValidationFailed, match="at most US\\$0.00"):
        payouts.payout_request_create(seller=seller, amount_cents=4500, currency="usd")


def test_someone_who_does_not_sell_has_no_payouts(buyer):
    with pytest.raises(NotAllowed):
        payouts.payout_request_create(seller=buyer, amount_cents=100, currency="usd")


def test_a_failed_payout_comes_back_tells_the_seller_why_and_the_books_agree(
    available, seller, stripe_sandbox, django_capture_on_commit_callbacks
):
    account = connected_account_id_for(seller)
    bank_account_use(account, "000111111116")
    with django_capture_on_commit_callbacks(execute=True):
        payout = payouts.payout_request_create(seller=seller, amount_cents=4000, currency="usd")

    advance(stripe_sandbox, django_capture_on_commit_callbacks, days=3)

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert payout.failure_code == "no_account"
    note = Notification.objects.get(recipient=seller, event_code="payout.failed")
    assert "No bank account could be found" in note.message
    assert "back in your available balance" in note.message
    assert note.action_url == reverse("connect-dashboard")
    assert account_balance(LedgerAccount.seller_payouts(seller.pk)) == 0
    balance = stripe().v1.balance.retrieve(options={"stripe_account": account})
    assert sum(a.amount for a in balance.available if a.currency == "usd") == 4500
    assert list(reconcile().differences.values_list("message", flat=True)) == []


def test_duplicate_and_late_events_change_nothing(
    available, seller, stripe_sandbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        payout = payouts.payout_request_create(seller=seller, amount_cents=4500, currency="usd")
    advance(stripe_sandbox, django_capture_on_commit_callbacks, days=3)
    lines = LedgerEntry.objects.count()

    for _ in range(2):  # every payout.* event again, in any order
        payouts.payout_sync(
            stripe_payout_id=payout.stripe_payout_id, stripe_account=payout.stripe_account_id
        )

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert LedgerEntry.objects.count() == lines
    assert Notification.objects.filter(recipient=seller, event_code="payout.paid").count() == 1


# --- The page and the API -----------------------------------------------------------------------

PAGE = "/seller/payouts/"
REQUEST = "/seller/payouts/request/"
API = "/api/v1/seller/payouts/"


def test_the_page_shows_the_fee_before_the_seller_confirms_then_lists_the_payout(
    available, client, seller, django_capture_on_commit_callbacks
):
    instant_capable(seller)
    client.force_login(seller)
    form = {"amount": "45.00", "currency": "usd", "method": "instant"}

    review = client.post(REQUEST, form)

    assert review.status_code == 200
    page = review.content.decode()
    assert "Confirm payout" in page
    assert "US$0.68" in page and "US$44.32" in page
    assert not Payout.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(REQUEST, form | {"confirm": "1"}, follow=True)

    payout = Payout.objects.get()
    assert (payout.amount_cents, payout.fee_cents, payout.method) == (4500, 68, "instant")
    page = done.content.decode()
    assert "US$44.32 is on its way to your bank" in page
    assert f'data-payout="{payout.pk}"' in page


@pytest.mark.parametrize(
    ("amount", "words"),
    [("45.01", "at most US$45.00"), ("0.50", "smallest payout is US$1.00"), ("1.234", "2 decimal")],
)
def test_the_page_shows_a_refused_amount_next_to_the_field(
    available, client, seller, amount, words
):
    client.force_login(seller)

    response = client.post(
        REQUEST, {"amount": amount, "currency": "usd", "method": "standard", "confirm": "1"}
    )

    assert response.status_code == 400
    assert words in response.content.decode()
    assert response.context["form"].errors["amount"]
    assert not Payout.objects.exists()


def test_the_api_requests_a_payout_once_per_idempotency_key_and_lists_it(
    available, client, seller, django_capture_on_commit_callbacks
):
    client.force_login(seller)
    body = {"amount_cents": 2000, "currency": "usd"}

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(API, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
        again = client.post(API, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")

    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["status"] == "pending"
    assert first.json()["bank_cents"] == 2000
    assert Payout.objects.count() == 1
    other = client.post(
        API,
        {"amount_cents": 2500, "currency": "usd"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert other.status_code == 400
    listed = client.get(API, {"status": "pending"}).json()
    assert [p["id"] for p in listed["results"]] == [first.json()["id"]]
    assert client.get(API, {"status": "lost"}).status_code == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount_cents": 999999, "currency": "usd"}, "amount_cents"),
        ({"amount_cents": "ten", "currency": "usd"}, "amount_cents"),
        ({"amount_cents": 500, "currency": "usd", "method": "warp"}, "method"),
        ({"amount_cents": 500}, "currency"),
    ],
)
def test_the_api_answers_bad_requests_with_field_errors(available, client, seller, body, field):
    client.force_login(seller)

    response = client.post(API, body, content_type="application/json")

    assert response.status_code == 400
    assert field in str(response.json())
    assert not Payout.objects.exists()


def test_the_api_refuses_someone_who_does_not_sell(client, buyer):
    client.force_login(buyer)

    assert client.get(API).status_code == 403
    assert client.post(API, {"amount_cents": 500, "currency": "usd"}).status_code == 403


def test_the_payout_list_costs_the_same_however_many_payouts(
    available, client, seller, django_assert_max_num_queries
):
    from accounts.selectors import connected_account_id_for as account_of

    for n in range(12):
        Payout.objects.create(
            seller=seller,
            stripe_account_id=account_of(seller),
            currency="usd",
            amount_cents=100 + n,
            status=PayoutStatus.PAID,
        )
    client.force_login(seller)

    # The page of payouts, and per currency the releases and payouts that say what each covered.
    with django_assert_max_num_queries(8):
        response = client.get(API)

    assert response.json()["count"] == 12


# --- The admin ----------------------------------------------------------------------------------


def test_staff_see_failed_payouts_first_and_pay_one_out_again(
    available, seller, client, stripe_sandbox, django_capture_on_commit_callbacks
):
    from accounts.factories import StaffFactory
    from core.models import AuditEntry

    account = connected_account_id_for(seller)
    bank_account_use(account, "000111111116")
    with django_capture_on_commit_callbacks(execute=True):
        failed = payouts.payout_request_create(seller=seller, amount_cents=2000, currency="usd")
    advance(stripe_sandbox, django_capture_on_commit_callbacks, days=3)
    failed.refresh_from_db()
    assert failed.status == PayoutStatus.FAILED
    # The seller puts in a working bank account.
    bank_account_use(account, "000123456789")
    with django_capture_on_commit_callbacks(execute=True):
        paid = payouts.payout_request_create(seller=seller, amount_cents=1000, currency="usd")
    staff = StaffFactory(is_superuser=True)
    client.force_login(staff)

    listing_page = client.get("/admin/payouts/payout/")
    assert listing_page.status_code == 200
    rows = listing_page.context["cl"].result_list
    assert rows[0].pk == failed.pk

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/payouts/payout/",
            {"action": "retry_failed", "_selected_action": [failed.pk, paid.pk]},
            follow=True,
        )

    said = response.content.decode()
    assert "paid out again as payout #" in said
    assert "only a failed payout can be tried again" in said
    again = Payout.objects.exclude(pk__in=[failed.pk, paid.pk]).get()
    assert (again.amount_cents, again.requested_by, again.status) == (2000, staff, "pending")
    assert AuditEntry.objects.filter(action="payouts.payout.requested", actor=staff).count() == 1
    detail = client.get(f"/admin/payouts/payout/{failed.pk}/change/")
    assert "No bank account could be found" in detail.content.decode()


def test_an_event_for_a_payout_bazaar_did_not_make_is_left_alone(available, seller):
    account = connected_account_id_for(seller)
    theirs = stripe().v1.payouts.create(
        params={"amount": 500, "currency": "usd"}, options={"stripe_account": account}
    )

    assert payouts.payout_sync(stripe_payout_id=theirs.id, stripe_account=account) is None
    assert not Payout.objects.exists()


def test_a_payout_stripe_could_not_be_reached_for_is_sent_by_the_job_once(
    available, seller, monkeypatch, django_capture_on_commit_callbacks
):
    from payouts.tasks import send_requested_payouts

    # Bazaar's row is written, then the connection drops before Stripe is asked.
    calls = []
    real_send = payouts.payout_send

    def lost_answer(*, payout):
        calls.append(payout.pk)
        return payout

    monkeypatch.setattr(payouts, "payout_send", lost_answer)
    with django_capture_on_commit_callbacks(execute=True):
        payout = payouts.payout_request_create(seller=seller, amount_cents=3000, currency="usd")
    assert payout.status == PayoutStatus.REQUESTED
    # While it is requested, its money is spoken for.
    assert (
        payouts.payout_quote(seller=seller, currency="usd", method="standard").payable_cents == 1500
    )
    monkeypatch.setattr(payouts, "payout_send", real_send)

    with django_capture_on_commit_callbacks(execute=True):
        assert send_requested_payouts.delay().get() == 1
        assert send_requested_payouts.delay().get() == 0

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING
    account = connected_account_id_for(seller)
    assert len(stripe().v1.payouts.list(options={"stripe_account": account}).data) == 1
