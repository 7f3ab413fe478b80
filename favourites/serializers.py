"""API shapes of favourites, and the catalogue's listing and store shapes with `is_favourite`."""

from rest_framework import serializers

from marketplace.serializers import ListingOutputSerializer, StoreOutputSerializer

IS_FAVOURITE_HELP = "Whether you saved it (always false when not signed in)."


class ListingWithFavouriteOutputSerializer(ListingOutputSerializer):
    is_favourite = serializers.BooleanField(read_only=True, help_text=IS_FAVOURITE_HELP)

    class Meta(ListingOutputSerializer.Meta):
        fields = (*ListingOutputSerializer.Meta.fields, "is_favourite")
        read_only_fields = fields

    def written(self, listing):
        data = super().written(listing)
        data["is_favourite"] = bool(listing.is_favourite)
        return data


class StoreWithFavouriteOutputSerializer(StoreOutputSerializer):
    is_favourite = serializers.BooleanField(read_only=True, help_text=IS_FAVOURITE_HELP)

    class Meta(StoreOutputSerializer.Meta):
        fields = (*StoreOutputSerializer.Meta.fields, "is_favourite")
        read_only_fields = fields


class ListingFavouriteOutputSerializer(serializers.Serializer):
    listing = ListingOutputSerializer(read_only=True)
    saved_at = serializers.DateTimeField(source="created_at", read_only=True)


class StoreFavouriteOutputSerializer(serializers.Serializer):
    store = StoreOutputSerializer(read_only=True)
    saved_at = serializers.DateTimeField(source="created_at", read_only=True)


class ListingFavouriteInputSerializer(serializers.Serializer):
    listing_id = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The id of an approved listing."
    )


class StoreFavouriteInputSerializer(serializers.Serializer):
    store = serializers.SlugField(max_length=100, help_text="The store's slug.")
