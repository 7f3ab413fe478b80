"""Thin tasks: each calls one service for one row. Throttled by Amazon (429) or Amazon down
(5xx): retried with exponential backoff, never sooner than Amazon's Retry-After, at most
AMAZON_SYNC_MAX_RETRIES times; after that the listing shows the error."""

import logging
import random
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from amazon_sync import selectors, services, spapi

logger = logging.getLogger(__name__)

GAVE_UP = "Amazon did not answer after several tries ({detail}). Use “Sync now” to try again."


def _backoff(task, exc):
    """Seconds before the next try: 2, 4, 8… (with jitter, so throttled sellers do not come
    back together), never less than what Amazon asked for."""
    wait = 2 ** (task.request.retries + 1) + random.uniform(0, 1)
    return max(wait, getattr(exc, "retry_after", 0) or 0)


def _run_listing(task, service, amazon_listing_id, **kwargs):
    try:
        return service(amazon_listing_id=amazon_listing_id, **kwargs)
    except spapi.SpApiError as exc:
        if task.request.retries >= task.max_retries:
            logger.warning("Gave up on %s for %s: %s", task.name, amazon_listing_id, exc.message)
            services.amazon_listing_give_up(
                amazon_listing_id=amazon_listing_id, problem=GAVE_UP.format(detail=exc.message)
            )
            return None
        raise task.retry(exc=exc, countdown=_backoff(task, exc)) from exc


def _options():
    return {"bind": True, "acks_late": True, "max_retries": settings.AMAZON_SYNC_MAX_RETRIES}


@shared_task(**_options())
def put_listing(self, amazon_listing_id):
    row = _run_listing(self, services.amazon_listing_put, amazon_listing_id)
    return row.status if row else None


@shared_task(**_options())
def refresh_listing(self, amazon_listing_id):
    row = _run_listing(self, services.amazon_listing_refresh, amazon_listing_id)
    return row.status if row else None


@shared_task(**_options())
def delete_listing(self, amazon_listing_id):
    row = _run_listing(self, services.amazon_listing_delete, amazon_listing_id)
    return row.status if row else None


@shared_task(**_options())
def push_offer(self, amazon_listing_id, seq):
    return _run_listing(self, services.amazon_listing_push_offer, amazon_listing_id, seq=seq)


@shared_task(**_options())
def submit_feed(self, feed_pk):
    try:
        return services.amazon_feed_submit(feed_pk=feed_pk).status
    except spapi.SpApiError as exc:
        if self.request.retries >= self.max_retries:
            raise
        raise self.retry(exc=exc, countdown=_backoff(self, exc)) from exc


@shared_task(**_options())
def poll_feed(self, feed_pk):
    # Not processed yet is not an error: the beat job asks again.
    try:
        return services.amazon_feed_poll(feed_pk=feed_pk).status
    except spapi.SpApiError as exc:
        if self.request.retries >= self.max_retries:
            raise
        raise self.retry(exc=exc, countdown=_backoff(self, exc)) from exc


@shared_task
def refresh_due():
    """The beat job: pending listings' status, unfinished feeds, and changes whose push was
    never queued."""
    pending = list(selectors.amazon_listings_due_for_refresh())
    feeds = list(selectors.feeds_due_for_poll())
    stale = list(
        selectors.amazon_listings_with_unpushed_changes(
            older_than=timezone.now() - timedelta(seconds=settings.AMAZON_SYNC_POLL_SECONDS)
        )
    )
    for pk in pending:
        refresh_listing.delay(amazon_listing_id=pk)
    for pk in feeds:
        poll_feed.delay(feed_pk=pk)
    for pk, seq in stale:
        push_offer.delay(amazon_listing_id=pk, seq=seq)
    return {"refreshed": len(pending), "feeds": len(feeds), "pushed": len(stale)}
