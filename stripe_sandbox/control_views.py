"""The sandbox's control page for staff: move the clock, send held or failed webhook deliveries,
decide open disputes as won or lost, see recent events. Each action calls one function of
stripe_sandbox.control."""

import time
from datetime import UTC, datetime

from celery import current_app
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from stripe_sandbox import control, core
from stripe_sandbox.currencies import format_amount
from stripe_sandbox.models import SandboxObject, SandboxWebhookDelivery
from stripe_sandbox.resources import payments

PAGE_SIZE = 25
# How far one click may move the clock: a year is already far beyond any settlement or payout.
MAX_HOURS = 366 * 24


class AdvanceClockForm(forms.Form):
    amount = forms.IntegerField(label="Advance by", min_value=1, initial=1)
    unit = forms.ChoiceField(
        choices=[("hours", "hours"), ("days", "days")], initial="days", label="Unit"
    )

    def clean(self):
        cleaned = super().clean()
        amount, unit = cleaned.get("amount"), cleaned.get("unit")
        if amount and unit:
            hours = amount * 24 if unit == "days" else amount
            if hours > MAX_HOURS:
                self.add_error("amount", "Move the clock by at most a year at a time.")
        return cleaned


class DisputeCloseForm(forms.Form):
    outcome = forms.ChoiceField(choices=[("won", "Close as won"), ("lost", "Close as lost")])


def _timestamp(seconds):
    return datetime.fromtimestamp(seconds, tz=UTC)


def _deliveries_page(request):
    queryset = SandboxWebhookDelivery.objects.exclude(
        status=SandboxWebhookDelivery.Status.DELIVERED
    ).order_by("id")
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("deliveries_page"))
    event_ids = [row.event_id for row in page.object_list]
    types = dict(
        SandboxObject.objects.filter(stripe_id__in=event_ids).values_list("stripe_id", "data__type")
    )
    rows = [{"delivery": row, "event_type": types.get(row.event_id, "")} for row in page]
    return page, rows


def _events_page(request):
    queryset = SandboxObject.objects.filter(object_type="event").order_by("-created", "-id")
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("events_page"))
    rows = [
        {
            "row": row,
            "type": row.data.get("type", ""),
            "created": _timestamp(row.created),
            "pending_webhooks": row.data.get("pending_webhooks", 0),
        }
        for row in page
    ]
    return page, rows


def _disputes_page(request, now, errors):
    page = Paginator(payments.disputes_open(), PAGE_SIZE).get_page(request.GET.get("disputes_page"))
    rows = []
    for row in page:
        dispute = row.data
        due_by = dispute["evidence_details"]["due_by"]
        rows.append(
            {
                "id": dispute["id"],
                "account": row.account,
                "charge": dispute["charge"],
                "amount": format_amount(dispute["amount"], dispute["currency"]),
                "reason": dispute["reason"],
                "status": dispute["status"],
                "due_by": _timestamp(due_by),
                "past_due": due_by < now,
                "error": errors.get(dispute["id"]),
            }
        )
    return page, rows


def _render(request, form, status=200, dispute_errors=None):
    deliveries_page, deliveries = _deliveries_page(request)
    events_page, events = _events_page(request)
    offset = core.clock_offset()  # read once: now and the offset shown agree
    now = int(time.time()) + offset
    disputes_page, disputes = _disputes_page(request, now, dispute_errors or {})
    context = {
        **admin.site.each_context(request),
        "title": "Stripe sandbox control",
        "sandbox_now": _timestamp(now),
        "sandbox_now_unix": now,
        "clock_offset_hours": offset / 3600,
        "advance_form": form,
        "deliveries_page": deliveries_page,
        "deliveries": deliveries,
        "events_page": events_page,
        "events": events,
        "disputes_page": disputes_page,
        "disputes": disputes,
    }
    return render(request, "stripe_sandbox/control.html", context, status=status)


def _run_due_jobs():
    """Start the site's periodic jobs named in STRIPE_SANDBOX_AFTER_ADVANCE (by name, from
    Celery's registry), so releases, expiries and payouts that fell due happen now."""
    current_app.loader.import_default_modules()  # the apps' tasks modules, as a worker does
    started = []
    for name in getattr(settings, "STRIPE_SANDBOX_AFTER_ADVANCE", ()):
        task = current_app.tasks.get(name)
        if task is None:
            continue
        task.delay()
        started.append(name.rsplit(".", 1)[-1].replace("_", " "))
    return started


@staff_member_required
def control_page(request):
    return _render(request, AdvanceClockForm())


@staff_member_required
@require_POST
def control_advance(request):
    form = AdvanceClockForm(request.POST)
    if not form.is_valid():
        return _render(request, form, status=400)
    amount, unit = form.cleaned_data["amount"], form.cleaned_data["unit"]
    control.advance_clock(**{unit: amount})
    started = _run_due_jobs()
    messages.success(
        request,
        f"The sandbox clock moved forward by {amount} {unit}."
        + (f" Started the jobs that may have fallen due: {', '.join(started)}." if started else ""),
    )
    return redirect("stripe_sandbox:control")


@staff_member_required
@require_POST
def control_deliver(request, pk):
    delivery = get_object_or_404(
        SandboxWebhookDelivery.objects.exclude(status=SandboxWebhookDelivery.Status.DELIVERED),
        pk=pk,
    )
    [status] = control.deliver([delivery])
    if 200 <= status < 300:
        messages.success(request, f"Event {delivery.event_id} delivered (HTTP {status}).")
    else:
        messages.error(
            request,
            f"Event {delivery.event_id}: {delivery.url} answered HTTP {status}. "
            "It stays in the list; send it again once the endpoint is fixed.",
        )
    return redirect("stripe_sandbox:control")


@staff_member_required
@require_POST
def control_deliver_all(request):
    statuses = control.deliver_pending()
    failed = sum(1 for status in statuses if not 200 <= status < 300)
    if not statuses:
        messages.info(request, "No webhook deliveries were waiting.")
    elif failed:
        messages.warning(
            request, f"Sent {len(statuses)} webhook deliveries; {failed} were not accepted."
        )
    else:
        messages.success(request, f"Sent {len(statuses)} webhook deliveries; all accepted.")
    return redirect("stripe_sandbox:control")


@staff_member_required
@require_POST
def control_dispute_close(request, dispute_id):
    """Decide an open dispute as the card network would: won or lost."""
    get_object_or_404(SandboxObject, stripe_id=dispute_id, object_type="dispute")
    form = DisputeCloseForm(request.POST)
    if not form.is_valid():
        errors = {dispute_id: "Choose whether the dispute is won or lost."}
        return _render(request, AdvanceClockForm(), status=400, dispute_errors=errors)
    won = form.cleaned_data["outcome"] == "won"
    try:
        dispute = control.dispute_close(dispute_id, won=won)
    except ValueError as exc:  # closed meanwhile (another tab, the command, the evidence)
        messages.error(request, f"Dispute {dispute_id}: {exc}")
        return redirect("stripe_sandbox:control")
    if dispute["status"] == "won":
        reinstated = format_amount(dispute["amount"], dispute["currency"])
        outcome = f"won: {reinstated} reinstated to the balance (the dispute fee is not)"
    elif dispute["status"] == "lost":
        outcome = "lost: the disputed amount and the dispute fee stay withdrawn"
    else:
        outcome = "closed (an inquiry: no funds had moved)"
    messages.success(request, f"Dispute {dispute_id} {outcome}.")
    return redirect("stripe_sandbox:control")
