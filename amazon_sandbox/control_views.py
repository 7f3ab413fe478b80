"""The sandbox's control page for staff and developers: listings as Amazon holds them (assign an
ASIN, reject with an issue), feeds (process them), throttling. Each action calls one function of
amazon_sandbox.control."""

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from amazon_sandbox import control, router
from amazon_sandbox.models import SandboxFeed, SandboxListing

PAGE_SIZE = 25


class RejectForm(forms.Form):
    seller_id = forms.CharField(max_length=40, widget=forms.HiddenInput)
    sku = forms.CharField(max_length=200, widget=forms.HiddenInput)
    message = forms.CharField(
        max_length=500, initial="The brand name is not approved for this category."
    )


class ThrottleForm(forms.Form):
    count = forms.IntegerField(min_value=0, max_value=1000, initial=3, label="Next requests")
    operation = forms.ChoiceField(
        choices=[("", "any operation"), *((name, name) for name in router.RATE_LIMITS)],
        required=False,
    )


@staff_member_required
def control_page(request):
    listings = Paginator(SandboxListing.objects.order_by("-updated", "-id"), PAGE_SIZE).get_page(
        request.GET.get("listings_page")
    )
    feeds = Paginator(SandboxFeed.objects.order_by("-created", "-id"), PAGE_SIZE).get_page(
        request.GET.get("feeds_page")
    )
    return render(
        request,
        "amazon_sandbox/control.html",
        {
            "listings": listings,
            "feeds": feeds,
            "throttle": control.throttle_state(),
            "throttle_form": ThrottleForm(),
            "pending_feeds": SandboxFeed.objects.filter(
                status__in=[SandboxFeed.Status.IN_QUEUE, SandboxFeed.Status.IN_PROGRESS]
            ).count(),
            "title": "Amazon SP-API sandbox",
        },
    )


@staff_member_required
@require_POST
def assign_asin(request):
    seller_id, sku = request.POST.get("seller_id", ""), request.POST.get("sku", "")
    if seller_id and sku:
        try:
            asin = control.assign_asin(seller_id, sku)
        except LookupError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{sku} is live with ASIN {asin}.")
    else:
        count = control.assign_pending_asins()
        messages.success(request, f"{count} pending listing(s) got an ASIN.")
    return redirect("amazon_sandbox:control")


@staff_member_required
@require_POST
def reject(request):
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why Amazon rejects the listing.")
        return redirect("amazon_sandbox:control")
    data = form.cleaned_data
    try:
        control.reject(data["seller_id"], data["sku"], message=data["message"])
    except LookupError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{data['sku']} was rejected: {data['message']}")
    return redirect("amazon_sandbox:control")


@staff_member_required
@require_POST
def throttle(request):
    form = ThrottleForm(request.POST)
    if form.is_valid():
        control.throttle(form.cleaned_data["count"], operation=form.cleaned_data["operation"])
        messages.success(request, f"The next {form.cleaned_data['count']} call(s) answer 429.")
    else:
        messages.error(request, "Give a number of requests from 0 to 1000.")
    return redirect("amazon_sandbox:control")


@staff_member_required
@require_POST
def process_feeds(request):
    processed = control.process_feeds()
    messages.success(request, f"{len(processed)} feed(s) processed.")
    return redirect("amazon_sandbox:control")
