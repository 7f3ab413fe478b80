"""Staff see each seller's Amazon connection (never its token) and each listing's sync status,
and "Sync now" a listing through the same service the seller's button calls."""

from django.contrib import admin, messages

from amazon_sync import services
from amazon_sync.models import AmazonAccount, AmazonFeed, AmazonFeedItem, AmazonListing
from core.admin import ReadOnlyAdmin, ReadOnlyTabularInline
from core.errors import DomainError


@admin.register(AmazonAccount)
class AmazonAccountAdmin(ReadOnlyAdmin):
    list_display = ("store", "selling_partner_id", "marketplace_id", "region", "connected_at")
    search_fields = ("store__name", "selling_partner_id")
    list_select_related = ("store",)
    # The encrypted refresh token is left out on purpose: staff never need it.
    fields = (
        "store",
        "selling_partner_id",
        "marketplace_id",
        "region",
        "connected_by",
        "connected_at",
    )


@admin.register(AmazonListing)
class AmazonListingAdmin(ReadOnlyAdmin):
    list_display = ("sku", "listing", "status", "asin", "pushed_quantity", "last_synced_at")
    list_filter = ("status", "product_type")
    search_fields = ("sku", "asin", "listing__title", "listing__store__name")
    list_select_related = ("listing",)
    actions = ("sync_now",)

    @admin.action(description="Sync now (send to Amazon again and read its status)")
    def sync_now(self, request, queryset):
        done = 0
        for row in queryset.select_related("listing__store"):
            try:
                services.amazon_listing_sync_now(amazon_listing=row, actor=request.user)
            except DomainError as exc:
                self.message_user(request, f"{row.sku}: {exc.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                f"{done} listing{'s' if done != 1 else ''} queued to sync with Amazon.",
                messages.SUCCESS,
            )


class AmazonFeedItemInline(ReadOnlyTabularInline):
    model = AmazonFeedItem
    fields = ("message_id", "sku", "price_cents", "currency", "quantity", "result", "issues")


@admin.register(AmazonFeed)
class AmazonFeedAdmin(ReadOnlyAdmin):
    list_display = ("pk", "store", "status", "feed_id", "created_at", "completed_at")
    list_filter = ("status",)
    list_select_related = ("store",)
    inlines = (AmazonFeedItemInline,)
