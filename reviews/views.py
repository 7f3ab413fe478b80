"""Review pages: leave a review of an order, reply to a review as the seller, a store's reviews.

Thin: each view reads its input, calls one service or selector and renders. Someone with no part
in the order gets the 404 a missing order gets (escrow.selectors.order_for_participant_get);
refusals become form errors next to the field or a message.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from core.errors import DomainError, ValidationFailed
from core.forms import add_domain_errors
from core.http import safe_next_url
from escrow.selectors import order_for_participant_get
from marketplace.selectors import store_public_get
from reviews import selectors, services
from reviews.forms import ReplyForm, ReviewForm

REVIEWS_PER_PAGE = 10


@login_required
def order_review(request, pk):
    """The order's party leaves their review (the order page shows the same form)."""
    order = order_for_participant_get(user=request.user, pk=pk)
    state = selectors.order_reviews_for(order=order, user=request.user)
    if not state.can_review:
        messages.info(
            request,
            services.ALREADY_REVIEWED
            if state.mine
            else services.NOT_YET
            if state.opens_at is None
            else services.WINDOW_OVER,
        )
        return redirect(order.get_absolute_url() + "#review")
    form = ReviewForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.review_create(
                order=order,
                author=request.user,
                rating=form.cleaned_data["rating"],
                text=form.cleaned_data["text"],
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(order.get_absolute_url() + "#review")
        else:
            messages.success(
                request,
                "Thank you: your review is published."
                if state.theirs_sealed
                else "Thank you. Your review is sealed until the other side reviews you too, "
                "or the review window ends.",
            )
            return redirect(order.get_absolute_url() + "#review")
    return render(
        request,
        "reviews/order_review.html",
        {
            "order": order,
            "state": state,
            "form": form,
            "is_seller": order.seller_id == request.user.pk,
        },
    )


@login_required
def review_reply(request, pk):
    """The seller's one public reply to a buyer's review of them."""
    review = selectors.review_for_seller_get(user=request.user, pk=pk)
    if review is None:
        raise Http404("No such review.")
    back = safe_next_url(request, reverse("store-reviews", args=[review.store.slug]))
    if review.reply:
        messages.info(request, services.ALREADY_REPLIED)
        return redirect(back)
    form = ReplyForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.review_reply(
                review=review, seller=request.user, text=form.cleaned_data["reply"]
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(back)
        else:
            messages.success(request, "Your reply is published under the review.")
            return redirect(back)
    return render(
        request, "reviews/review_reply.html", {"review": review, "form": form, "next": back}
    )


def store_reviews(request, slug):
    """A store's reviews tab: its rating and its buyers' published reviews, newest first."""
    store = store_public_get(slug=slug)
    page_obj = Paginator(selectors.store_reviews_public(store=store), REVIEWS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    is_owner = request.user.is_authenticated and store.owner_id == request.user.pk
    return render(
        request,
        "reviews/store_reviews.html",
        {
            "store": store,
            "store_tab": "reviews",
            "page_obj": page_obj,
            "reviews": page_obj.object_list,
            "is_owner": is_owner,
            "reply_form": ReplyForm() if is_owner else None,
        },
    )
