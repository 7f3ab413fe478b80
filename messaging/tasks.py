"""Celery tasks of the messaging app: thin wrappers around its services."""

from celery import shared_task

from messaging import services


@shared_task
def purge_stale_uploads():
    """Direct uploads that never reached a message are deleted after a day."""
    return services.uploads_purge_stale()
