"""API shapes for reviews. Output serializers render what reviews.selectors fetched (author and
listing joined): no query per row."""

from rest_framework import serializers

from reviews.models import RATING_MAX, RATING_MIN, REPLY_MAX_LENGTH, TEXT_MAX_LENGTH, Review


class ReviewOutputSerializer(serializers.ModelSerializer):
    author_name = serializers.CharField(
        read_only=True, help_text="The author's first name (never their email address)."
    )
    listing_id = serializers.IntegerField(read_only=True)
    listing_title = serializers.CharField(source="listing.title", read_only=True)
    reply = serializers.CharField(
        read_only=True, allow_blank=True, help_text="The seller's public reply; empty if none."
    )
    reveals_at = serializers.DateTimeField(
        read_only=True,
        help_text="When the review is (or was) published to the other side and the public: "
        "when both sides had reviewed, else the end of the review window.",
    )
    hidden = serializers.BooleanField(
        read_only=True, help_text="Hidden by Bazaar's staff (only its author still sees it)."
    )
    hidden_reason = serializers.CharField(
        read_only=True,
        allow_blank=True,
        help_text="Why staff hid it; empty unless hidden (so only ever shown to its author).",
    )

    class Meta:
        model = Review
        fields = (
            "id",
            "side",
            "rating",
            "text",
            "author_name",
            "listing_id",
            "listing_title",
            "created_at",
            "reveals_at",
            "hidden",
            "hidden_reason",
            "reply",
            "replied_at",
        )
        read_only_fields = fields


class OrderReviewsOutputSerializer(serializers.Serializer):
    can_review = serializers.BooleanField(
        help_text="You may review this order now (completed, within the window, not yet done)."
    )
    opens_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When reviewing opened: the order's release or its dispute's resolution; "
        "null before either.",
    )
    window_ends_at = serializers.DateTimeField(
        allow_null=True, help_text="The last moment to review; null before reviewing opens."
    )
    mine = ReviewOutputSerializer(allow_null=True, help_text="Your review, sealed or not.")
    theirs = ReviewOutputSerializer(
        allow_null=True,
        help_text="The other side's review of you, once published (null while sealed).",
    )
    theirs_sealed = serializers.BooleanField(
        help_text="The other side has reviewed you; you read it once you review them too or "
        "the window ends."
    )
    can_reply = serializers.BooleanField(
        help_text="You are the seller and may reply to the buyer's review of you (once)."
    )


class ReviewInputSerializer(serializers.Serializer):
    rating = serializers.IntegerField(min_value=RATING_MIN, max_value=RATING_MAX)
    text = serializers.CharField(
        max_length=TEXT_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


class ReplyInputSerializer(serializers.Serializer):
    reply = serializers.CharField(max_length=REPLY_MAX_LENGTH)
