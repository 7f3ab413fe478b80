"""`account.updated` webhooks keep sellers' Connect status, notifications and store current —
whatever order, however often, and only when Stripe really sent them."""

import json
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.urls import reverse
from djstripe.models import Event

from accounts import connect
from accounts.factories import SellerFactory
from accounts.models import ConnectedAccount
from accounts.selectors import seller_can_accept_payments
from accounts.tests.test_connect import fill_onboarding, onboard_seller, stripe_account
from core.models import AuditEntry
from core.stripe_webhooks import process_webhook, stored_webhooks_drain
from core.tests.work import bazaar_work
from marketplace.models import Store
from notifications.models import Notification
from stripe_sandbox.testing import webhook_signature as sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller(stripe_sandbox):
    return SellerFactory(email="potter@example.com")


def connected():
    return ConnectedAccount.objects.get()


def notifications(user, code):
    return list(Notification.objects.filter(recipient=user, event_code=code).order_by("pk"))


# --- The happy path -----------------------------------------------------------------------------


def test_completing_onboarding_makes_the_seller_able_to_sell(
    client, seller, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        onboard_seller(client, seller, "complete")

    account = connected()
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (
        True,
        True,
        True,
    )
    assert account.requirements_currently_due == []
    assert account.disabled_reason == ""
    assert account.capabilities == {"card_payments": "active", "transfers": "active"}
    assert account.business_profile["name"] == "Clay & Co"
    assert account.stripe_updated_at is not None
    assert seller_can_accept_payments(seller) is True

    ready = notifications(seller, "connect.ready")
    assert len(ready) == 1
    assert ready[0].action_url == reverse("connect")
    assert [m.subject for m in mail.outbox if m.to == [seller.email]] == [
        "You can now take payments and get paid on Bazaar"
    ]


def test_store_contact_details_follow_stripe_once(
    client, seller, stripe_sandbox, django_capture_on_commit_callbacks
):
    store = seller.store
    with stripe_sandbox.webhooks_held():
        onboard_seller(client, seller, "complete", support_phone="+1 555 010 0199")
    updates = stripe_sandbox.pending_deliveries("account.updated")
    assert len(updates) == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert stripe_sandbox.deliver(updates, times=3) == [200, 200, 200]

    store.refresh_from_db()
    assert store.contact_email == "help@clay.example.com"
    assert store.contact_phone == "+1 555 010 0199"
    assert store.support_url == "https://clay.example.com"
    assert store.name != "Clay & Co"  # the store's name stays the seller's choice
    assert (
        AuditEntry.objects.filter(
            action="marketplace.store.updated", target_id=str(store.pk)
        ).count()
        == 1
    )
    assert Event.objects.filter(type="account.updated").count() == 1

    # a later sync with nothing new changes nothing
    connect.connect_account_refresh(stripe_account_id=connected().stripe_account_id)
    assert (
        AuditEntry.objects.filter(
            action="marketplace.store.updated", target_id=str(store.pk)
        ).count()
        == 1
    )


def test_a_seller_without_a_store_gets_one_from_their_stripe_profile(
    client, seller, stripe_sandbox, django_capture_on_commit_callbacks
):
    Store.objects.filter(owner=seller).delete()
    with stripe_sandbox.webhooks_held():
        onboard_seller(client, seller, "complete")

    with django_capture_on_commit_callbacks(execute=True):
        stripe_sandbox.deliver(stripe_sandbox.pending_deliveries("account.updated"), times=2)
    connect.connect_account_refresh(stripe_account_id=connected().stripe_account_id)

    store = Store.objects.get(owner=seller)
    assert store.name == "Clay & Co"
    assert (store.contact_email, store.contact_phone, store.support_url) == (
        "help@clay.example.com",
        "+1 555 010 0100",
        "https://clay.example.com",
    )
    assert len(notifications(seller, "store.created")) == 1


# --- Duplicates and order -----------------------------------------------------------------------


def test_duplicated_and_reversed_account_updates_leave_the_newest_state(
    client, seller, stripe_sandbox, django_capture_on_commit_callbacks
):
    with stripe_sandbox.webhooks_held():
        onboard_seller(client, seller, "due")  # older: payouts on hold
        fix = client.post(reverse("connect-start"))
        fill_onboarding(client, fix["Location"], "complete")  # newer: everything enabled
    updates = stripe_sandbox.pending_deliveries("account.updated")
    assert len(updates) == 2
    older, newer = (stripe_sandbox.event(row.event_id) for row in updates)
    assert older["data"]["object"]["payouts_enabled"] is False
    assert newer["data"]["object"]["payouts_enabled"] is True

    with django_capture_on_commit_callbacks(execute=True):
        statuses = stripe_sandbox.deliver(list(reversed(updates)), times=2)

    assert statuses == [200, 200, 200, 200]
    account = connected()
    assert (account.charges_enabled, account.payouts_enabled) == (True, True)
    assert account.requirements_currently_due == []
    assert account.current_deadline is None
    assert Event.objects.filter(type="account.updated").count() == 2
    # one "ready" notification, however many times Stripe said so
    assert len(notifications(seller, "connect.ready")) == 1


def test_an_older_snapshot_never_overwrites_a_newer_one(client, seller):
    onboard_seller(client, seller, "complete")
    account = stripe_account(connected().stripe_account_id)
    connect.connect_account_sync(stripe_account=account)
    synced_at = connected().stripe_updated_at

    stale = account.to_dict()
    stale.update(charges_enabled=False, payouts_enabled=False)
    result = connect.connect_account_sync(
        stripe_account=stale, observed_at=synced_at - timedelta(seconds=1)
    )

    assert result.charges_enabled is True
    assert connected().charges_enabled is True
    assert connected().stripe_updated_at == synced_at


# --- Turning bad ---------------------------------------------------------------------------------


def test_requirements_left_due_then_past_due_raise_action_required(
    client, seller, stripe_sandbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        onboard_seller(client, seller, "due")
    account = connected()
    assert (account.charges_enabled, account.payouts_enabled) == (True, False)
    assert account.requirements_currently_due == [
        "external_account",
        "individual.verification.document",
    ]
    assert account.current_deadline is not None
    first = notifications(seller, "connect.action_required")
    assert len(first) == 1
    assert "Stripe needs a bank account and a photo ID before you can be paid." in first[0].message

    # the deadline passes in Stripe: charges stop and Stripe says so
    with django_capture_on_commit_callbacks(execute=True):
        stripe_sandbox.advance_clock(days=15)

    account = connected()
    assert account.charges_enabled is False
    assert account.disabled_reason == "requirements.past_due"
    assert account.requirements_past_due == ["external_account", "individual.verification.document"]
    assert seller_can_accept_payments(seller) is False
    second = notifications(seller, "connect.action_required")
    assert len(second) == 2
    assert second[1].message.startswith("Payments are paused: information is past due.")
    subjects = [m.subject for m in mail.outbox if m.to == [seller.email]]
    assert subjects.count("Stripe needs more information to pay you") == 2
    html = client.get(reverse("seller-dashboard")).content.decode()
    assert "Payments are paused: information is past due." in html
    assert 'data-connect-state="restricted"' in html


def test_an_account_the_seller_fixes_is_ready_again(
    client, seller, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        onboard_seller(client, seller, "past_due")
    assert connected().charges_enabled is False
    assert len(notifications(seller, "connect.action_required")) == 1

    with django_capture_on_commit_callbacks(execute=True):
        fix = client.post(reverse("connect-start"))
        fill_onboarding(client, fix["Location"], "complete")
    assert connected().charges_enabled is True
    assert len(notifications(seller, "connect.ready")) == 1


# --- Only Stripe's own, well-formed, fresh deliveries ---------------------------------------------


@pytest.fixture
def held_update(client, seller, stripe_sandbox):
    """A real account.updated delivery, held back: (url path, payload, endpoint secret)."""
    with stripe_sandbox.webhooks_held():
        onboard_seller(client, seller, "complete")
    row = stripe_sandbox.pending_deliveries("account.updated")[0]
    payload = json.dumps(stripe_sandbox.event(row.event_id))
    secret = stripe_sandbox.webhook_secret(row.endpoint_id)
    return urlsplit(row.url).path, payload, secret


def _post(client, path, payload, signature):
    return client.post(
        path, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


def _nothing_changed():
    account = connected()
    assert account.charges_enabled is False
    assert account.details_submitted is False
    assert not Event.objects.filter(type="account.updated").exists()
    assert not Notification.objects.filter(event_code__startswith="connect.").exists()


def test_a_forged_signature_is_refused(client, held_update, django_capture_on_commit_callbacks):
    path, payload, _ = held_update
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, path, payload, sign(payload, "whsec_not_the_real_secret"))
    assert response.status_code == 400
    _nothing_changed()


def test_a_stale_timestamp_is_refused(client, held_update, django_capture_on_commit_callbacks):
    path, payload, secret = held_update
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, path, payload, sign(payload, secret, time.time() - 3600))
    assert response.status_code == 400
    _nothing_changed()


def test_a_malformed_body_is_refused(client, held_update, django_capture_on_commit_callbacks):
    path, _, secret = held_update
    with django_capture_on_commit_callbacks(execute=True):
        broken = _post(client, path, "{not json", sign("{not json", secret))
        no_id = _post(client, path, '{"type": "account.updated"}', sign("{}", secret))
    assert broken.status_code == 400
    assert no_id.status_code == 400
    _nothing_changed()


def test_the_genuine_delivery_is_accepted(client, held_update, django_capture_on_commit_callbacks):
    path, payload, secret = held_update
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, path, payload, sign(payload, secret))
    assert response.status_code == 200
    assert connected().charges_enabled is True


def test_an_account_bazaar_does_not_know_is_ignored(
    stripe_sandbox, django_capture_on_commit_callbacks
):
    from core.stripe_client import client as stripe_client

    account = stripe_client().v1.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "capabilities": {"transfers": {"requested": True}},
        }
    )
    with django_capture_on_commit_callbacks(execute=True):
        stripe_client().v1.accounts.update(account.id, params={"business_profile": {"mcc": "5999"}})
    assert Event.objects.filter(type="account.updated").count() == 1
    assert not ConnectedAccount.objects.exists()


# --- What one event costs ------------------------------------------------------------------------


@pytest.mark.parametrize("by_drain", [False, True], ids=["task", "drain"])
def test_an_account_update_reads_the_account_from_stripe_once(
    client, seller, stripe_sandbox, monkeypatch, django_capture_on_commit_callbacks, by_drain
):
    """dj-stripe's own account.updated handler is disconnected: it retrieved the account a
    second time and mirrored it into djstripe_account, which Bazaar never reads (16 queries and
    2 Stripe reads per event before, 9 and 1 now)."""
    with django_capture_on_commit_callbacks(execute=True):
        onboard_seller(client, seller, "complete")
    account_id = connected().stripe_account_id
    account = stripe_account(account_id).to_dict()
    with stripe_sandbox.webhooks_held():
        stripe_sandbox.emit("account.updated", account, account=account_id)
    [row] = stripe_sandbox.pending_deliveries("account.updated")
    payload = json.dumps(stripe_sandbox.event(row.event_id))
    secret = stripe_sandbox.webhook_secret(row.endpoint_id)
    stored = _post(client, urlsplit(row.url).path, payload, sign(payload, secret))
    assert stored.status_code == 200

    with bazaar_work(monkeypatch) as work:
        if by_drain:  # as the intake has it processed; process_webhook runs its retries
            assert stored_webhooks_drain() == {"processed": 1, "failed": 0}
        else:
            assert process_webhook(int(stored.content)) == "processed"

    assert work.stripe_requests == [f"GET /v1/accounts/{account_id}"], work.describe()
    # A drain: the same 9 for its event (SELECT ... SKIP LOCKED in place of the task's SELECT),
    # and two more once per drain: the clock (the sandbox's here), and finding no event left.
    assert len(work.queries) == (11 if by_drain else 9), work.describe()
    assert Event.objects.filter(id=row.event_id).exists()
    assert connected().charges_enabled is True


def test_an_update_about_an_account_deleted_since_leaves_nothing_to_mirror(client, seller):
    """The handler reads the account as Stripe's JSON (no StripeObjects): Stripe's 404 still
    reaches it as resource_missing, and it stops there instead of failing the event."""
    from types import SimpleNamespace

    from accounts.webhooks import account_updated
    from core.stripe_client import client as stripe_client

    onboard_seller(client, seller, "complete")
    account_id = connected().stripe_account_id
    stripe_client().v1.accounts.delete(account_id)
    event = SimpleNamespace(data={"object": {"id": account_id, "object": "account"}})

    assert account_updated(sender=Event, event=event) is None
    assert connected().stripe_account_id == account_id  # our row is kept as it was
