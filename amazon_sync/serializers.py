"""Input and output of the Amazon channel's API (amazon_sync.api)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from amazon_sync.models import (
    AmazonAccount,
    AmazonFeed,
    AmazonFeedItem,
    AmazonListing,
    ProductType,
)
from amazon_sync.services import marketplace_name
from marketplace.serializers import SellerListingOutputSerializer


class AmazonIssueOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    severity = serializers.CharField(help_text="ERROR, WARNING or INFO, as Amazon says.")
    attribute_names = serializers.ListField(child=serializers.CharField())


class AmazonSyncOutputSerializer(serializers.ModelSerializer):
    """A listing's copy on Amazon."""

    issues = AmazonIssueOutputSerializer(many=True, help_text="Amazon's messages about it.")
    problems = serializers.ListField(
        child=serializers.CharField(),
        help_text="What stops it (Amazon's errors, or Bazaar's trouble reaching Amazon).",
    )
    asin = serializers.CharField(allow_blank=True, help_text="Empty until Amazon assigns one.")

    class Meta:
        model = AmazonListing
        fields = (
            "sku",
            "product_type",
            "status",
            "asin",
            "issues",
            "problems",
            "pushed_price_cents",
            "pushed_currency",
            "pushed_quantity",
            "last_synced_at",
        )
        read_only_fields = fields


class AmazonListingOutputSerializer(serializers.Serializer):
    """One of the seller's listings and its state on Amazon (null: never published)."""

    listing_id = serializers.IntegerField(source="pk")
    title = serializers.CharField()
    price_cents = serializers.IntegerField()
    currency = serializers.CharField()
    stock = serializers.IntegerField(allow_null=True)
    amazon = serializers.SerializerMethodField()

    @extend_schema_field(AmazonSyncOutputSerializer(allow_null=True))
    def get_amazon(self, listing):
        row = getattr(listing, "amazon_listing", None)
        return AmazonSyncOutputSerializer(row).data if row else None


class AmazonAccountOutputSerializer(serializers.Serializer):
    connected = serializers.BooleanField()
    selling_partner_id = serializers.CharField(allow_null=True)
    marketplace_id = serializers.CharField(allow_null=True)
    marketplace_name = serializers.CharField(allow_null=True)
    connected_at = serializers.DateTimeField(allow_null=True)

    @staticmethod
    def of(account: AmazonAccount | None):
        if account is None:
            return {
                "connected": False,
                "selling_partner_id": None,
                "marketplace_id": None,
                "marketplace_name": None,
                "connected_at": None,
            }
        return {
            "connected": True,
            "selling_partner_id": account.selling_partner_id,
            "marketplace_id": account.marketplace_id,
            "marketplace_name": marketplace_name(account.marketplace_id),
            "connected_at": account.connected_at,
        }


class ConnectOutputSerializer(serializers.Serializer):
    authorization_url = serializers.URLField(
        help_text="Open it in the seller's browser: they sign in at Amazon, which sends them back "
        "to Bazaar's callback page to finish connecting."
    )


class PublishInputSerializer(serializers.Serializer):
    product_type = serializers.ChoiceField(choices=ProductType.choices, default=ProductType.PRODUCT)


class AmazonFeedItemOutputSerializer(serializers.ModelSerializer):
    listing_id = serializers.IntegerField(source="amazon_listing.listing_id")
    issues = AmazonIssueOutputSerializer(many=True)

    class Meta:
        model = AmazonFeedItem
        fields = (
            "message_id",
            "sku",
            "listing_id",
            "price_cents",
            "currency",
            "quantity",
            "result",
            "issues",
        )
        read_only_fields = fields


class AmazonFeedOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = AmazonFeed
        fields = ("id", "status", "feed_id", "error", "created_at", "completed_at")
        read_only_fields = fields


class AmazonFeedDetailOutputSerializer(AmazonFeedOutputSerializer):
    items = AmazonFeedItemOutputSerializer(many=True)

    class Meta(AmazonFeedOutputSerializer.Meta):
        fields = (*AmazonFeedOutputSerializer.Meta.fields, "items")
        read_only_fields = fields


class SellerListingWithAmazonOutputSerializer(SellerListingOutputSerializer):
    """The seller's listing (marketplace.api) with its Amazon sync status."""

    amazon = serializers.SerializerMethodField()

    class Meta(SellerListingOutputSerializer.Meta):
        fields = (*SellerListingOutputSerializer.Meta.fields, "amazon")
        read_only_fields = fields

    @extend_schema_field(AmazonSyncOutputSerializer(allow_null=True))
    def get_amazon(self, listing):
        row = getattr(listing, "amazon_listing", None)
        return AmazonSyncOutputSerializer(row).data if row else None
