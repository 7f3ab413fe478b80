from django import forms

from reviews.models import RATING_MAX, RATING_MIN, REPLY_MAX_LENGTH, TEXT_MAX_LENGTH

RATING_CHOICES = [
    (5, "5 – Excellent"),
    (4, "4 – Good"),
    (3, "3 – OK"),
    (2, "2 – Poor"),
    (1, "1 – Very poor"),
]


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        label="Rating",
        choices=RATING_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
        help_text=f"From {RATING_MIN} (very poor) to {RATING_MAX} (excellent).",
    )
    text = forms.CharField(
        label="Your review",
        required=False,
        max_length=TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Sealed until the other side has reviewed you too, or the review window ends. "
        f"Up to {TEXT_MAX_LENGTH} characters.",
    )


class ReplyForm(forms.Form):
    reply = forms.CharField(
        label="Your public reply",
        max_length=REPLY_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=f"Once, shown under the review on your store's page. Up to {REPLY_MAX_LENGTH} "
        "characters.",
    )
