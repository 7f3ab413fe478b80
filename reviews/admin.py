"""Reviews in the back office: staff read them and hide one with a reason (it leaves every list
and rating) or show it again. The text is the author's: staff never edit it."""

from django import forms
from django.contrib import admin, messages

from core.admin import ReadOnlyAdmin, reason_confirmation
from core.errors import DomainError
from reviews.models import HIDE_REASON_MAX_LENGTH, Review
from reviews.services import review_hide, review_unhide


class HideForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        max_length=HIDE_REASON_MAX_LENGTH,
        help_text="Why it breaks the rules (abuse, personal details, not about the order). Its "
        "author reads it on the order's page.",
    )


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "side",
        "rating",
        "author",
        "subject",
        "store",
        "order",
        "reveals_at",
        "hidden",
    )
    list_filter = ("side", "hidden", "rating")
    search_fields = ("text", "author__email", "subject__email", "store__name", "order__id")
    list_select_related = ("author", "subject", "store", "order")
    fields = (
        "order",
        "side",
        "author",
        "subject",
        "store",
        "listing",
        "rating",
        "text",
        "created_at",
        "window_ends_at",
        "reveals_at",
        "reply",
        "replied_at",
        "hidden",
        "hidden_reason",
        "hidden_at",
        "hidden_by",
    )
    readonly_fields = fields
    actions = ("hide_reviews", "unhide_reviews")
    ordering = ("-created_at", "-id")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("reviews.change_review"):
            actions.pop("hide_reviews", None)
            actions.pop("unhide_reviews", None)
        return actions

    @admin.action(description="Hide the reviews (with a reason)")
    def hide_reviews(self, request, queryset):
        form = HideForm(request.POST if "post" in request.POST else None)
        if form.is_bound and form.is_valid():
            for review in queryset:
                try:
                    _, changed = review_hide(
                        review=review, actor=request.user, reason=form.cleaned_data["reason"]
                    )
                except DomainError as exc:
                    self.message_user(request, f"{review}: {exc.message}", messages.ERROR)
                else:
                    self.message_user(
                        request,
                        f"{review}: {'hidden' if changed else 'was hidden already'}.",
                        messages.SUCCESS if changed else messages.INFO,
                    )
            return None
        return reason_confirmation(
            self,
            request,
            queryset,
            form=form,
            title="Hide reviews",
            action_name="hide_reviews",
            template="admin/reviews/hide_confirmation.html",
        )

    @admin.action(description="Show the hidden reviews again")
    def unhide_reviews(self, request, queryset):
        for review in queryset:
            _, changed = review_unhide(review=review, actor=request.user)
            self.message_user(
                request,
                f"{review}: {'shown again' if changed else 'was not hidden'}.",
                messages.SUCCESS if changed else messages.INFO,
            )
