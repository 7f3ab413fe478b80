"""Notification pages: the full list, opening one, the email preferences and unsubscribing.

Views parse input, call one service and render. Someone else's notification is a 404.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ValidationFailed
from notifications import selectors, services
from notifications.events import EVENTS
from notifications.forms import PreferencesForm
from notifications.models import Notification

PAGE_SIZE = 20


def _is_local(request, url):
    return bool(url) and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


def _back(request):
    """Where a list or bell action returns to: its `next` when that is on this site."""
    candidate = request.POST.get("next") or request.GET.get("next")
    if _is_local(request, candidate):
        return candidate
    return reverse("notifications:list")


# --- The list and what can be done to one notification ------------------------------------------


@login_required
@require_GET
def notification_list(request):
    unread_only = request.GET.get("show") == "unread"
    queryset = selectors.notifications_for(user=request.user, unread_only=unread_only)
    # get_page() turns a missing, malformed or too-large page number into a real page.
    page_obj = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/list.html",
        {
            "page_obj": page_obj,
            "notifications": page_obj.object_list,
            "unread_only": unread_only,
        },
    )


@login_required
@require_GET
def notification_open(request, pk):
    """Follow a notification: mark it read, then go where it leads (on this site only)."""
    try:
        notification = services.notification_mark_read(user=request.user, notification_id=pk)
    except Notification.DoesNotExist as exc:
        raise Http404("No such notification.") from exc
    if _is_local(request, notification.action_url):
        return redirect(notification.action_url)
    return redirect("notifications:list")


@login_required
@require_POST
def notification_read(request, pk):
    try:
        services.notification_mark_read(user=request.user, notification_id=pk)
    except Notification.DoesNotExist as exc:
        raise Http404("No such notification.") from exc
    return redirect(_back(request))


@login_required
@require_POST
def notification_read_all(request):
    marked = services.notification_mark_all_read(user=request.user)
    if marked:
        messages.success(
            request, f"Marked {marked} notification{'s' if marked != 1 else ''} as read."
        )
    else:
        messages.info(request, "You had no unread notifications.")
    return redirect(_back(request))


@login_required
@require_POST
def notification_delete(request, pk):
    try:
        services.notification_delete(user=request.user, notification_id=pk)
    except Notification.DoesNotExist as exc:
        raise Http404("No such notification.") from exc
    messages.success(request, "Notification deleted.")
    return redirect(_back(request))


# --- Email preferences --------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    current = services.preferences_for(user=request.user)
    data = request.POST if request.method == "POST" else None
    form = PreferencesForm(data, preferences=current)
    if form.is_valid():
        changing = None
        try:
            # Only what the person changed: an untouched event keeps following its default.
            with transaction.atomic():
                for changing in form.changed_data:
                    services.preference_set(
                        user=request.user,
                        event_code=changing,
                        email_mode=form.cleaned_data[changing],
                    )
        except ValidationFailed as exc:
            for message in exc.errors.get("email_mode", []):
                form.add_error(changing, message)
            for message in exc.errors.get("event_code", []):
                form.add_error(None, message)
        else:
            messages.success(request, "Your notification settings are saved.")
            return redirect("notifications:preferences")
    return render(request, "notifications/preferences.html", {"form": form})


# --- Unsubscribing from an email link -----------------------------------------------------------


# Mail clients' one-click unsubscribe (RFC 8058) POSTs here without a CSRF token or a session;
# the signed token is what authorises the change.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    try:
        user, code = services.unsubscribe_token_read(token=token)
    except signing.BadSignature:
        return render(request, "notifications/unsubscribe_invalid.html", status=400)
    event = EVENTS.get(code)
    if request.method == "POST":
        everything = request.POST.get("scope") == "all" or code == services.ALL_EVENTS
        services.preferences_unsubscribe(token=token, everything=everything)
        return render(
            request,
            "notifications/unsubscribe_done.html",
            {"email": user.email, "event": None if everything else event},
        )
    return render(
        request,
        "notifications/unsubscribe_confirm.html",
        {"email": user.email, "event": event, "token": token},
    )
