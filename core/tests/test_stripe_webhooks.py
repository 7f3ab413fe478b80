"""Bazaar's Stripe webhook intake: verify, store, answer fast, process once per event id."""

import json
import time
from io import StringIO

import pytest
from celery.exceptions import Retry
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from djstripe.models import Event, WebhookEndpoint, WebhookEventTrigger
from djstripe.signals import WEBHOOK_SIGNALS
from kombu.exceptions import OperationalError

from core.stripe_webhooks import process_webhook
from core.tests.work import bazaar_work
from stripe_sandbox import control
from stripe_sandbox import testing as sandbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def platform_endpoint(stripe_sandbox):
    return WebhookEndpoint.objects.get(application="")


def post_event(client, endpoint, payload, *, secret=None, timestamp=None, raw=None):
    body = raw if raw is not None else json.dumps(payload)
    signature = sandbox.webhook_signature(body, secret or endpoint.secret, timestamp=timestamp)
    return client.post(
        f"/stripe/webhook/{endpoint.djstripe_uuid}/",
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": signature},
    )


def account_event():
    """An account.updated event about the platform's own account, sent as Stripe would."""
    platform = sandbox.client().v1.accounts.retrieve_current()
    return control.emit("account.updated", platform.to_dict())


def test_registering_endpoints_is_idempotent(stripe_sandbox):
    from core.stripe_webhooks import ensure_webhook_endpoints

    before = {e.id: e.secret for e in WebhookEndpoint.objects.all()}
    again = ensure_webhook_endpoints("http://testserver")

    assert [(c.kind, c.action) for c in again] == [
        ("platform", "unchanged"),
        ("Connect", "unchanged"),
    ]
    assert {e.id: e.secret for e in WebhookEndpoint.objects.all()} == before
    assert all(secret.startswith("whsec_") for secret in before.values())


def test_a_signed_event_is_stored_and_processed_once_even_when_delivered_twice(
    client, platform_endpoint, django_capture_on_commit_callbacks
):
    event = account_event()

    with django_capture_on_commit_callbacks(execute=True):
        first = post_event(client, platform_endpoint, event)
        second = post_event(client, platform_endpoint, event)

    assert first.status_code == 200
    assert second.status_code == 200
    assert WebhookEventTrigger.objects.filter(valid=True).count() == 2
    assert Event.objects.filter(id=event["id"]).count() == 1
    assert WebhookEventTrigger.objects.filter(processed=True).count() == 2


def test_the_intake_stores_an_event_in_one_query_once_its_endpoint_is_known(
    client, platform_endpoint, django_assert_num_queries
):
    """The endpoint's secret is cached (60 s, dropped when the endpoint is saved): after the
    first event, each one costs its INSERT and nothing else."""
    assert post_event(client, platform_endpoint, account_event()).status_code == 200
    event = account_event()

    with django_assert_num_queries(1) as captured:
        response = post_event(client, platform_endpoint, event)

    assert response.status_code == 200
    assert captured.captured_queries[0]["sql"].startswith(
        'INSERT INTO "djstripe_webhookeventtrigger"'
    )
    stored = WebhookEventTrigger.objects.get(pk=int(response.content))
    assert (stored.valid, stored.webhook_endpoint_id) == (True, platform_endpoint.id)
    assert stored.body == json.dumps(event)


def test_the_intake_skips_the_page_middleware(client, platform_endpoint):
    """Sessions, language, CSRF, messages, framing, CSP: none concerns a machine's signed POST,
    and they were a third of the intake's CPU. The request id and HTTPS headers still apply."""
    response = post_event(client, platform_endpoint, account_event())

    assert response.status_code == 200
    assert response["X-Request-ID"]
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware, before it
    assert "X-Frame-Options" not in response
    assert "Content-Security-Policy" not in response
    assert "Vary" not in response
    # Every other page still gets them, other paths under /stripe/ too.
    page = client.get("/")
    assert page["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in page
    assert client.post(f"/stripe/webhook/{platform_endpoint.djstripe_uuid}x/").status_code == 404


def test_the_intake_builds_no_table_of_every_url(client, platform_endpoint):
    """A web worker serving webhooks reverses no URL: finding the intake's path must not build
    the reverse table of every URL (2 MB in each worker)."""
    from django.urls import clear_url_caches, get_resolver

    event = account_event()
    clear_url_caches()

    assert post_event(client, platform_endpoint, event).status_code == 200
    assert not get_resolver()._reverse_dict


def test_a_secret_rolled_by_another_process_is_taken_at_once(
    client, platform_endpoint, django_assert_num_queries
):
    """Each process keeps the endpoint a minute: a signature its copy refuses is checked
    against the database's secret before it is refused."""
    old_secret = platform_endpoint.secret
    assert post_event(client, platform_endpoint, account_event()).status_code == 200
    # As another process (or SQL) would: no signal reaches this one.
    WebhookEndpoint.objects.filter(pk=platform_endpoint.pk).update(secret="whsec_rolled")
    platform_endpoint.secret = "whsec_rolled"

    accepted = post_event(client, platform_endpoint, account_event())
    event = account_event()
    with django_assert_num_queries(1):  # the new secret is this process's copy now
        again = post_event(client, platform_endpoint, event)
    forged = post_event(client, platform_endpoint, account_event(), secret="whsec_forged")

    assert (accepted.status_code, again.status_code, forged.status_code) == (200, 200, 400)
    assert WebhookEventTrigger.objects.filter(valid=True).count() == 3
    # the old secret is no longer held anywhere: refused too
    stale = post_event(client, platform_endpoint, account_event(), secret=old_secret)
    assert stale.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_deleted_by_another_process_is_a_404_not_a_500(client, stripe_sandbox):
    endpoint = WebhookEndpoint.objects.get(application="")
    assert post_event(client, endpoint, account_event()).status_code == 200
    # Deleted without this process hearing of it (its copy is still fresh).
    WebhookEventTrigger.objects.all().delete()
    WebhookEndpoint.objects.filter(pk=endpoint.pk)._raw_delete(using="default")

    response = post_event(client, endpoint, account_event())

    assert response.status_code == 404
    assert not WebhookEventTrigger.objects.exists()


def test_a_saved_endpoint_is_read_again_by_the_intake(client, platform_endpoint):
    old_secret = platform_endpoint.secret
    assert post_event(client, platform_endpoint, account_event()).status_code == 200

    platform_endpoint.secret = "whsec_rolled"
    platform_endpoint.save()

    refused = post_event(client, platform_endpoint, account_event(), secret=old_secret)
    accepted = post_event(client, platform_endpoint, account_event(), secret="whsec_rolled")
    assert (refused.status_code, accepted.status_code) == (400, 200)

    platform_endpoint.delete()
    gone = post_event(client, platform_endpoint, account_event(), secret="whsec_rolled")
    assert gone.status_code == 404


def test_processing_marks_the_event_processed_without_writing_its_body_again(
    client, platform_endpoint, monkeypatch
):
    event = account_event()
    response = post_event(client, platform_endpoint, event)

    with bazaar_work(monkeypatch) as work:
        assert process_webhook(int(response.content)) == "processed"

    [marked] = [q for q in work.queries if q.startswith('UPDATE "djstripe_webhookeventtrigger"')]
    assert '"processed"' in marked
    assert '"body"' not in marked and '"headers"' not in marked, marked
    stored = WebhookEventTrigger.objects.get(pk=int(response.content))
    assert (stored.processed, stored.event_id, stored.exception) == (True, event["id"], "")
    assert stored.body == json.dumps(event)
    assert stored.headers["Stripe-Signature"].startswith("t=")


def test_the_sandbox_delivers_its_events_to_the_registered_endpoints(
    stripe_sandbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        event = account_event()

    [delivery] = stripe_sandbox.deliveries(event_id=event["id"])
    assert delivery.status == "delivered"
    assert delivery.last_status_code == 200
    assert Event.objects.filter(id=event["id"], type="account.updated").exists()


def test_held_deliveries_wait_until_released(stripe_sandbox, django_capture_on_commit_callbacks):
    with stripe_sandbox.webhooks_held(), django_capture_on_commit_callbacks(execute=True):
        event = account_event()
    assert not Event.objects.filter(id=event["id"]).exists()

    with django_capture_on_commit_callbacks(execute=True):
        statuses = stripe_sandbox.deliver(stripe_sandbox.pending_deliveries("account.updated"))

    assert statuses == [200]
    assert Event.objects.filter(id=event["id"]).exists()


def test_a_forged_signature_is_refused_and_nothing_is_processed(
    client, platform_endpoint, django_capture_on_commit_callbacks
):
    event = account_event()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_event(client, platform_endpoint, event, secret="whsec_forged")

    assert response.status_code == 400
    assert callbacks == []
    assert not Event.objects.exists()
    assert WebhookEventTrigger.objects.get().valid is False


@pytest.mark.parametrize("debug", [True, False], ids=["DEBUG", "production"])
@pytest.mark.parametrize("with_header", [True, False], ids=["with-header", "without-header"])
def test_a_forged_signature_is_refused_in_every_mode_whatever_the_headers_say(
    client, platform_endpoint, settings, django_capture_on_commit_callbacks, debug, with_header
):
    """dj-stripe's own check takes the secret from X-Djstripe-Webhook-Secret under DEBUG: an
    event signed with any secret plus that header was processed."""
    settings.DEBUG = debug
    event = account_event()
    body = json.dumps(event)
    headers = {"Stripe-Signature": sandbox.webhook_signature(body, "whsec_forged")}
    if with_header:
        headers["X-Djstripe-Webhook-Secret"] = "whsec_forged"

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            f"/stripe/webhook/{platform_endpoint.djstripe_uuid}/",
            data=body,
            content_type="application/json",
            headers=headers,
        )

    assert response.status_code == 400
    assert callbacks == []
    assert not Event.objects.exists()
    assert not WebhookEventTrigger.objects.filter(valid=True).exists()


def test_a_timestamp_in_the_future_is_refused(
    client, platform_endpoint, django_capture_on_commit_callbacks
):
    event = account_event()
    in_an_hour = int(time.time()) + 3600

    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(client, platform_endpoint, event, timestamp=in_an_hour)

    assert response.status_code == 400
    assert "in the future" in response.content.decode()
    assert not Event.objects.exists()


def test_a_clock_a_little_behind_ours_is_tolerated(
    client, platform_endpoint, django_capture_on_commit_callbacks
):
    event = account_event()
    a_minute_ahead = int(time.time()) + 60

    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(client, platform_endpoint, event, timestamp=a_minute_ahead)

    assert response.status_code == 200
    assert Event.objects.filter(id=event["id"]).exists()


def test_a_refused_delivery_keeps_only_why_and_a_short_excerpt(
    client, platform_endpoint, django_capture_on_commit_callbacks
):
    """Anyone can post to the endpoint with any Stripe-Signature: its body is not stored."""
    junk = json.dumps({"id": "evt_junk", "padding": "x" * 900_000})
    noisy = {f"X-Noise-{i}": "y" * 4000 for i in range(20)}

    response = client.post(
        f"/stripe/webhook/{platform_endpoint.djstripe_uuid}/",
        data=junk,
        content_type="application/json",
        headers={"Stripe-Signature": "t=1,v1=forged", **noisy},
    )

    assert response.status_code == 400
    trigger = WebhookEventTrigger.objects.get()
    assert trigger.valid is False
    assert trigger.body == junk[:500]
    assert set(trigger.headers) <= {
        "Stripe-Signature",
        "User-Agent",
        "Content-Type",
        "Content-Length",
    }
    assert trigger.headers["Stripe-Signature"] == "t=1,v1=forged"
    assert "signature" in trigger.exception.lower()


def test_a_body_larger_than_any_stripe_event_is_a_413_and_stores_nothing(
    client, platform_endpoint, settings
):
    huge = json.dumps({"id": "evt_huge", "padding": "x" * settings.STRIPE_WEBHOOK_MAX_BODY_BYTES})

    response = post_event(client, platform_endpoint, None, raw=huge)

    assert response.status_code == 413
    assert not WebhookEventTrigger.objects.exists()


def test_the_hourly_job_purges_refused_deliveries_once_they_are_old(
    client, platform_endpoint, stripe_sandbox, django_capture_on_commit_callbacks
):
    from core.stripe_webhooks import purge_refused_webhooks

    with django_capture_on_commit_callbacks(execute=True):
        good = post_event(client, platform_endpoint, account_event())
    refused = post_event(client, platform_endpoint, account_event(), secret="whsec_forged")
    assert (good.status_code, refused.status_code) == (200, 400)

    assert purge_refused_webhooks.delay().get() == 0  # a day old at most: kept for staff
    stripe_sandbox.advance_clock(days=8)
    assert purge_refused_webhooks.delay().get() == 1

    assert not WebhookEventTrigger.objects.filter(valid=False).exists()
    assert WebhookEventTrigger.objects.filter(valid=True, processed=True).exists()


def test_a_stale_timestamp_is_refused(
    client, platform_endpoint, django_capture_on_commit_callbacks
):
    event = account_event()
    an_hour_ago = int(time.time()) - 3600

    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(client, platform_endpoint, event, timestamp=an_hour_ago)

    assert response.status_code == 400
    assert not Event.objects.exists()


def test_a_tampered_body_is_refused(client, platform_endpoint, django_capture_on_commit_callbacks):
    event = account_event()
    body = json.dumps(event)
    signature = sandbox.webhook_signature(body, platform_endpoint.secret)
    tampered = body.replace('"account.updated"', '"account.application.deauthorized"')

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/stripe/webhook/{platform_endpoint.djstripe_uuid}/",
            data=tampered,
            content_type="application/json",
            headers={"Stripe-Signature": signature},
        )

    assert response.status_code == 400
    assert not Event.objects.exists()


NESTED = "[" * 10_000 + "]" * 10_000


@pytest.mark.parametrize(
    "raw",
    [
        "not json at all",
        "{}",
        '{"id": "evt_1"}',
        "5",
        "null",
        "true",
        '"evt_1"',
        "[]",
        '{"id": 5, "type": "account.updated", "data": {"object": {}}}',
        '{"id": "evt_1", "type": ["account.updated"], "data": {"object": {}}}',
        '{"id": "evt_1", "type": "account.updated", "data": "x"}',
        '{"id": "evt_1", "type": "account.updated", "data": {"object": 5}}',
        "[" * 10_000 + "]" * 10_000,
        '{"id": "evt_1", "type": "x", "data": {"object": {"a": '
        + "[" * 10_000
        + "]" * 10_000
        + "}}}",
    ],
    ids=lambda raw: raw[:40],
)
@pytest.mark.parametrize("debug", [True, False], ids=["DEBUG", "production"])
def test_signed_bodies_that_are_not_an_event_are_a_400(
    client, platform_endpoint, settings, django_capture_on_commit_callbacks, raw, debug
):
    """Signed with the endpoint's real secret, so only the body's shape can refuse them."""
    settings.DEBUG = debug

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_event(client, platform_endpoint, None, raw=raw)

    assert response.status_code == 400
    assert callbacks == []
    assert not Event.objects.exists()
    assert not WebhookEventTrigger.objects.filter(valid=True).exists()


def test_a_malformed_forwarded_for_header_is_no_500(
    client, platform_endpoint, django_capture_on_commit_callbacks
):
    event = account_event()
    body = json.dumps(event)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/stripe/webhook/{platform_endpoint.djstripe_uuid}/",
            data=body,
            content_type="application/json",
            headers={
                "Stripe-Signature": sandbox.webhook_signature(body, platform_endpoint.secret),
                "X-Forwarded-For": "not-an-address, 10.0.0.1",
            },
        )

    assert response.status_code == 200
    assert Event.objects.filter(id=event["id"]).exists()


def test_a_missing_signature_header_is_a_400_and_stores_nothing(client, platform_endpoint):
    response = client.post(
        f"/stripe/webhook/{platform_endpoint.djstripe_uuid}/",
        data=json.dumps(account_event()),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert not WebhookEventTrigger.objects.exists()


def test_an_unknown_endpoint_is_a_404(client, stripe_sandbox):
    response = client.post(
        "/stripe/webhook/00000000-0000-0000-0000-000000000000/",
        data="{}",
        content_type="application/json",
        headers={"Stripe-Signature": "t=1,v1=x"},
    )

    assert response.status_code == 404


# --- Lost and failing events --------------------------------------------------------------------


def broker_down(monkeypatch):
    """Queueing a webhook's processing fails as it does when Redis cannot be reached."""
    from core.stripe_webhooks import drain_webhooks, process_webhook

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(process_webhook, "delay", refuse)
    monkeypatch.setattr(drain_webhooks, "delay", refuse)


def test_an_event_stored_while_the_broker_is_down_is_answered_200_and_requeued_later(
    client, platform_endpoint, stripe_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    from core.stripe_webhooks import requeue_stored_webhooks

    with stripe_sandbox.webhooks_held():
        event = account_event()
    with monkeypatch.context() as patch:
        broker_down(patch)
        with django_capture_on_commit_callbacks(execute=True):
            response = post_event(client, platform_endpoint, event)

    assert response.status_code == 200
    trigger = WebhookEventTrigger.objects.get()
    assert (trigger.valid, trigger.processed) == (True, False)
    assert requeue_stored_webhooks.delay().get() == 0  # it may still be on its way to a worker

    stripe_sandbox.advance_clock(minutes=2)
    assert requeue_stored_webhooks.delay().get() == 1

    trigger.refresh_from_db()
    assert trigger.processed
    assert Event.objects.filter(id=event["id"]).exists()
    assert requeue_stored_webhooks.delay().get() == 0  # done: never queued again


def test_the_requeue_job_leaves_retrying_and_given_up_events_alone(
    client, platform_endpoint, stripe_sandbox, monkeypatch, settings
):
    """A receiver that keeps failing is retried by its task (Celery's countdown), then given up
    on for staff to look at; the job never starts a second round of retries beside it."""
    from core.stripe_webhooks import process_webhook, requeue_stored_webhooks

    calls = []

    def broken(sender, event, **kwargs):
        calls.append(event.id)
        raise RuntimeError("receiver bug")

    with stripe_sandbox.webhooks_held():
        event = account_event()
    with monkeypatch.context() as patch:  # stored only: the job queues it
        broker_down(patch)
        assert post_event(client, platform_endpoint, event).status_code == 200
    [trigger] = WebhookEventTrigger.objects.all()
    signal = WEBHOOK_SIGNALS["account.updated"]
    signal.connect(broken, dispatch_uid="broken-test-receiver")
    try:
        stripe_sandbox.advance_clock(minutes=2)
        with pytest.raises(Retry):  # eager Celery: the retry is scheduled, not run
            requeue_stored_webhooks.delay()
        assert len(calls) == 1
        trigger.refresh_from_db()
        assert trigger.exception == "RuntimeError: receiver bug"
        assert trigger.bazaar_processing.failures == 1

        stripe_sandbox.advance_clock(minutes=5)  # its task is still retrying: left alone
        assert requeue_stored_webhooks.delay().get() == 0

        with pytest.raises(RuntimeError):  # the task's last retry
            process_webhook.apply(
                args=[trigger.pk], retries=settings.STRIPE_WEBHOOK_TASK_MAX_RETRIES
            )
        assert len(calls) == 2
        trigger.refresh_from_db()
        assert trigger.bazaar_processing.gave_up_at is not None
        assert not trigger.processed

        stripe_sandbox.advance_clock(days=1)
        assert requeue_stored_webhooks.delay().get() == 0
        assert len(calls) == 2
    finally:
        signal.disconnect(dispatch_uid="broken-test-receiver")


def test_the_webhook_jobs_are_in_the_beat_schedule_and_known_to_a_worker(settings):
    from celery import current_app as app

    app.loader.import_default_modules()  # what a worker imports when it starts
    jobs = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert jobs["core.stripe_webhooks.requeue_stored_webhooks"] == 60
    assert jobs["core.stripe_webhooks.purge_refused_webhooks"] == 3600
    assert set(jobs) <= set(app.tasks)


def test_staff_see_a_given_up_event_and_have_it_processed_again_once_fixed(
    admin_client, client, platform_endpoint, stripe_sandbox, monkeypatch, settings
):
    from core.stripe_webhooks import process_webhook, requeue_stored_webhooks

    with stripe_sandbox.webhooks_held():
        event = account_event()
    with monkeypatch.context() as patch:
        broker_down(patch)
        assert post_event(client, platform_endpoint, event).status_code == 200
    [trigger] = WebhookEventTrigger.objects.all()

    def broken(sender, event, **kwargs):
        raise RuntimeError("receiver bug")

    WEBHOOK_SIGNALS["account.updated"].connect(broken, dispatch_uid="broken-test-receiver")
    try:
        with pytest.raises(RuntimeError):
            process_webhook.apply(
                args=[trigger.pk], retries=settings.STRIPE_WEBHOOK_TASK_MAX_RETRIES
            )
    finally:
        WEBHOOK_SIGNALS["account.updated"].disconnect(dispatch_uid="broken-test-receiver")
    url = reverse("admin:core_webhookprocessing_changelist")

    listed = admin_client.get(url, {"gave_up_at__isempty": "0"})
    assert listed.status_code == 200
    assert "account.updated" not in listed.content.decode()  # never processed: no Event yet
    assert f"#{trigger.pk}" in listed.content.decode()
    stripe_sandbox.advance_clock(minutes=30)
    assert requeue_stored_webhooks.delay().get() == 0  # given up

    done = admin_client.post(
        url, {"action": "process_again", ACTION_CHECKBOX_NAME: [trigger.pk]}, follow=True
    )

    assert "1 webhook(s) will be processed again within a minute." in done.content.decode()
    assert requeue_stored_webhooks.delay().get() == 1
    trigger.refresh_from_db()
    assert trigger.processed


def test_an_event_lost_after_a_failure_is_requeued_once_its_retries_would_be_over(
    client, platform_endpoint, stripe_sandbox, monkeypatch
):
    from core.stripe_webhooks import requeue_stored_webhooks

    with stripe_sandbox.webhooks_held():
        event = account_event()
    with monkeypatch.context() as patch:
        broker_down(patch)
        assert post_event(client, platform_endpoint, event).status_code == 200
    stripe_sandbox.advance_clock(minutes=2)
    with monkeypatch.context() as patch:  # queued, but the message never reaches a worker
        patch.setattr("core.stripe_webhooks.process_webhook.delay", lambda *args: None)
        assert requeue_stored_webhooks.delay().get() == 1
    assert requeue_stored_webhooks.delay().get() == 0  # queued a moment ago

    stripe_sandbox.advance_clock(minutes=11)
    assert requeue_stored_webhooks.delay().get() == 1
    assert Event.objects.filter(id=event["id"]).exists()


# --- Drains: one task processes many stored events ----------------------------------------------


def queued_drains(monkeypatch):
    """The drains the intake queues, recorded instead of run (as if no worker had started)."""
    from core.stripe_webhooks import drain_webhooks

    queued = []
    monkeypatch.setattr(drain_webhooks, "delay", lambda *args: queued.append(args))
    return queued


def test_a_burst_of_events_queues_one_drain_that_processes_them_all_once(
    client, platform_endpoint, stripe_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    """A task per event cost the worker more than processing an account.updated did: events
    stored while a drain waits to start queue nothing more, and the drain takes them all."""
    from core.stripe_webhooks import drain_webhooks

    with stripe_sandbox.webhooks_held():
        events = [account_event() for _ in range(3)]
    queued = queued_drains(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        for event in [*events, events[0]]:  # the first one delivered twice
            assert post_event(client, platform_endpoint, event).status_code == 200

    assert len(queued) == 1
    assert drain_webhooks() == {"processed": 4, "failed": 0}
    assert WebhookEventTrigger.objects.filter(processed=False).count() == 0
    assert Event.objects.filter(id__in=[e["id"] for e in events]).count() == 3
    assert drain_webhooks() == {"processed": 0, "failed": 0}

    with django_capture_on_commit_callbacks(execute=True):  # the drain started: a new one
        assert post_event(client, platform_endpoint, account_event()).status_code == 200
    assert len(queued) == 2


def test_a_failing_event_is_retried_with_backoff_without_holding_up_the_others(
    client, platform_endpoint, stripe_sandbox, monkeypatch, settings
):
    from core.stripe_webhooks import (
        drain_webhooks,
        process_webhook,
        requeue_stored_webhooks,
        stored_webhooks_drain,
    )

    with stripe_sandbox.webhooks_held():
        events = [account_event() for _ in range(3)]
    queued_drains(monkeypatch)
    for event in events:
        assert post_event(client, platform_endpoint, event).status_code == 200
    bad = events[1]["id"]

    def broken(sender, event, **kwargs):
        if event.id == bad:
            raise RuntimeError("receiver bug")

    retries = []
    monkeypatch.setattr(
        process_webhook, "apply_async", lambda *args, **kwargs: retries.append((args, kwargs))
    )
    signal = WEBHOOK_SIGNALS["account.updated"]
    signal.connect(broken, dispatch_uid="broken-test-receiver")
    try:
        assert drain_webhooks() == {"processed": 2, "failed": 1}
        failed = WebhookEventTrigger.objects.get(processed=False)
        assert failed.json_body["id"] == bad
        assert failed.exception == "RuntimeError: receiver bug"
        assert failed.bazaar_processing.failures == 1
        # Handed to process_webhook as its first retry, after its first wait.
        assert retries == [(((failed.pk,),), {"countdown": 5, "retries": 1})]
        # Neither a drain nor the re-queue job takes it while its task retries.
        assert stored_webhooks_drain() == {"processed": 0, "failed": 0}
        stripe_sandbox.advance_clock(minutes=5)
        assert requeue_stored_webhooks.delay().get() == 0

        with pytest.raises(RuntimeError):  # the task's last retry
            process_webhook.apply(
                args=[failed.pk], retries=settings.STRIPE_WEBHOOK_TASK_MAX_RETRIES
            )
        failed.refresh_from_db()
        assert failed.bazaar_processing.gave_up_at is not None
        stripe_sandbox.advance_clock(days=1)
        assert stored_webhooks_drain() == {"processed": 0, "failed": 0}  # given up
    finally:
        signal.disconnect(dispatch_uid="broken-test-receiver")

    from core.stripe_webhooks import webhook_processing_resume

    assert webhook_processing_resume(trigger_ids=[failed.pk]) == 1  # staff fixed the bug
    assert stored_webhooks_drain() == {"processed": 1, "failed": 0}
    assert Event.objects.filter(id=bad).exists()


def test_a_drain_hands_over_to_a_new_one_when_its_time_is_up(
    client, platform_endpoint, stripe_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    from core.stripe_webhooks import stored_webhooks_drain

    with stripe_sandbox.webhooks_held():
        events = [account_event() for _ in range(2)]
    queued = queued_drains(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        for event in events:
            assert post_event(client, platform_endpoint, event).status_code == 200
    assert len(queued) == 1  # its drain has not started

    assert stored_webhooks_drain(seconds=0) == {"processed": 1, "failed": 0}
    assert len(queued) == 2  # queued although the first one's flag is still set
    assert stored_webhooks_drain(seconds=0) == {"processed": 1, "failed": 0}


@pytest.mark.django_db(transaction=True)
def test_two_drains_share_the_waiting_events_without_waiting_for_each_other(
    client, stripe_sandbox, monkeypatch
):
    """One drain's locked event is skipped by another (PostgreSQL's SKIP LOCKED), not waited
    for; the event it holds is processed once, by it."""
    from django.db import connection

    from core.stripe_webhooks import stored_webhooks_drain
    from core.testing import row_locked_elsewhere

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (DATABASE_URL)")
    endpoint = WebhookEndpoint.objects.get(application="")
    with stripe_sandbox.webhooks_held():
        events = [account_event() for _ in range(3)]
    queued_drains(monkeypatch)
    for event in events:
        assert post_event(client, endpoint, event).status_code == 200
    first = WebhookEventTrigger.objects.order_by("pk").first()

    with row_locked_elsewhere(WebhookEventTrigger, first.pk):  # another drain's
        assert stored_webhooks_drain() == {"processed": 2, "failed": 0}
        first.refresh_from_db()
        assert not first.processed
    assert stored_webhooks_drain() == {"processed": 1, "failed": 0}
    assert WebhookEventTrigger.objects.filter(processed=True).count() == 3


# --- manage.py stripe_webhooks setup ------------------------------------------------------------


def stripe_endpoints():
    """The webhook endpoints as Stripe has them (the secret only ever shows at creation)."""
    return {e.id: e for e in sandbox.client().v1.webhook_endpoints.list().data}


# The events Bazaar's apps handle (their webhooks.py), written out: a handler added or lost
# changes what Stripe is asked to send, and this list says so.
HANDLED = {
    "account.updated",
    "charge.dispute.closed",
    "charge.dispute.created",
    "charge.dispute.funds_reinstated",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.updated",
    "charge.refund.updated",
    "charge.refunded",
    "charge.succeeded",
    "checkout.session.completed",
    "payment_intent.payment_failed",
    "payment_intent.succeeded",
    "payout.canceled",
    "payout.created",
    "payout.failed",
    "payout.paid",
    "payout.updated",
    "refund.created",
    "refund.updated",
    "transfer.created",
    "transfer.reversed",
}


def test_the_setup_command_registers_both_endpoints_once_for_exactly_the_events_bazaar_handles():
    out = StringIO()

    call_command("stripe_webhooks", "setup", "--base-url", "https://shop.example.com/", stdout=out)
    call_command("stripe_webhooks", "setup", "--base-url", "https://shop.example.com", stdout=out)

    endpoints = list(WebhookEndpoint.objects.all())
    assert len(endpoints) == 2
    assert {bool(e.application) for e in endpoints} == {False, True}
    assert all(e.url.startswith("https://shop.example.com/stripe/webhook/") for e in endpoints)
    assert all(e.secret.startswith("whsec_") for e in endpoints)
    at_stripe = stripe_endpoints()
    assert sorted(at_stripe) == sorted(e.id for e in endpoints)
    handled = HANDLED
    for endpoint in at_stripe.values():
        assert set(endpoint.enabled_events) == handled  # never "*"
        assert endpoint.url == next(e.url for e in endpoints if e.id == endpoint.id)
    lines = out.getvalue().splitlines()
    assert [line.split("): ")[0] for line in lines if line.startswith("Webhook")] == [
        "Webhook endpoint (platform events",
        "Webhook endpoint (Connect events",
    ] * 2
    assert [line.rsplit(" ", 1)[1] for line in lines if line.startswith("Webhook")] == [
        "[created]",
        "[created]",
        "[unchanged]",
        "[unchanged]",
    ]


def test_re_running_setup_brings_stripes_side_up_to_date_and_keeps_the_secrets():
    base = "https://shop.example.com"
    call_command("stripe_webhooks", "setup", "--base-url", base, stdout=StringIO())
    secrets = {e.id: e.secret for e in WebhookEndpoint.objects.all()}
    api = sandbox.client().v1
    platform, connect = sorted(secrets, key=lambda i: bool(stripe_endpoints()[i].application))
    # Someone narrowed one in Stripe's dashboard; Stripe disabled the other after failures.
    api.webhook_endpoints.update(platform, params={"enabled_events": ["charge.succeeded"]})
    api.webhook_endpoints.update(connect, params={"disabled": True})

    out = StringIO()
    call_command("stripe_webhooks", "setup", "--base-url", base, stdout=out)

    assert "[updated]" in out.getvalue()
    at_stripe = stripe_endpoints()
    assert set(at_stripe[platform].enabled_events) == HANDLED
    assert at_stripe[connect].status == "enabled"
    assert {e.id: e.secret for e in WebhookEndpoint.objects.all()} == secrets


def test_setup_replaces_endpoints_it_cannot_verify():
    """An endpoint deleted at Stripe is made again; one aimed at this site whose secret nobody
    holds (made by hand, or by a database since wiped) is removed, or Stripe would deliver
    every event to it too, forever failing."""
    base = "https://shop.example.com"
    call_command("stripe_webhooks", "setup", "--base-url", base, stdout=StringIO())
    api = sandbox.client().v1
    platform = WebhookEndpoint.objects.get(application="")
    api.webhook_endpoints.delete(platform.id)
    unknown = api.webhook_endpoints.create(
        params={
            "url": f"{base}/stripe/webhook/0b0e3c1d-6f7e-4b4a-9c55-000000000001/",
            "enabled_events": ["*"],
        }
    )
    elsewhere = api.webhook_endpoints.create(
        params={"url": "https://other.example.com/hooks/", "enabled_events": ["*"]}
    )

    out = StringIO()
    call_command("stripe_webhooks", "setup", "--base-url", base, stdout=out)

    at_stripe = stripe_endpoints()
    assert unknown.id not in at_stripe
    assert elsewhere.id in at_stripe  # not this site's: left alone
    ours = list(WebhookEndpoint.objects.all())
    assert len(ours) == 2 and platform.id not in {e.id for e in ours}
    assert {e.id for e in ours} | {elsewhere.id} == set(at_stripe)
    assert f"{unknown.url} [removed]" in out.getvalue()


def test_an_event_signed_for_a_registered_endpoint_is_verified_with_its_stored_secret(
    client, django_capture_on_commit_callbacks
):
    """The going-live path: what `setup` stored is what the intake checks signatures with."""
    call_command("stripe_webhooks", "setup", "--base-url", "http://testserver", stdout=StringIO())
    endpoint = WebhookEndpoint.objects.get(application="")
    event = account_event()

    with django_capture_on_commit_callbacks(execute=True):
        good = post_event(client, endpoint, event)
        forged = post_event(client, endpoint, event, secret="whsec_" + "0" * 32)

    assert (good.status_code, forged.status_code) == (200, 400)
    assert Event.objects.filter(id=event["id"]).exists()


def test_the_setup_command_uses_the_site_url_by_default(settings):
    settings.SITE_URL = "https://bazaar.example.com"

    call_command("stripe_webhooks", "setup", stdout=StringIO())

    urls = WebhookEndpoint.objects.values_list("url", flat=True)
    assert all(url.startswith("https://bazaar.example.com/stripe/webhook/") for url in urls)


def test_the_setup_command_says_when_stripe_cannot_be_reached(monkeypatch):
    sandbox.unreachable(monkeypatch)

    with pytest.raises(CommandError, match="Stripe could not be reached"):
        call_command("stripe_webhooks", "setup", stdout=StringIO())

    assert not WebhookEndpoint.objects.exists()
