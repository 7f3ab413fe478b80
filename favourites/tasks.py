"""Thin tasks: the alerts to everyone who saved a listing, off the seller's request."""

from celery import shared_task

from favourites import services


@shared_task(acks_late=True)
def alert_price_drop(listing_id, old_price_cents, currency):
    return services.favourite_alerts_price_drop(
        listing_id=listing_id, old_price_cents=old_price_cents, currency=currency
    )


@shared_task(acks_late=True)
def alert_back_in_stock(listing_id):
    return services.favourite_alerts_back_in_stock(listing_id=listing_id)
