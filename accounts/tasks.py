"""Celery tasks of the accounts app: thin wrappers around its services."""

from celery import shared_task

from accounts import services


@shared_task
def purge_expired_api_tokens():
    """API tokens past their expiry are deleted every day."""
    return services.api_tokens_purge_expired()
