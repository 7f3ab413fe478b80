"""Messaging pages: the inbox, a conversation with its send form, and asking a seller about a
listing. The order room (escrow's order page) shows an order's conversation through the
`{% order_conversation %}` tag, with the same pieces (`messages_window`, the send form).

Thin views: parse input, call one service, render or redirect. A conversation exists only for
its buyer and its seller; everyone else gets a 404 (staff read conversations in the admin).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.services import user_seen
from core.errors import DomainError, ValidationFailed
from core.forms import add_domain_errors
from core.throttling import rate_limit_wait, wait_text
from marketplace import selectors as catalogue_selectors
from marketplace.models import ListingStatus
from messaging import selectors, services
from messaging.files import human_size
from messaging.forms import MessageForm, StoreMessageForm
from messaging.models import Conversation, ConversationKind, SenderRole

INBOX_PAGE_SIZE = 20
# A conversation page shows this many of the newest messages; older ones are a link away, so a
# long conversation costs the same to show as a short one.
MESSAGES_SHOWN = 50
PREVIEW_CHARS = 100

OWN_LISTING = (
    "This is your own listing. Buyers' questions about it arrive in your Messages, "
    "where you can answer them."
)
NOT_ON_SALE = "This listing is not on sale, so it takes no questions."
TOO_FAST = (
    "You are sending messages faster than Bazaar allows. Wait {wait}, then send it again: "
    "your text is still here."
)


def _too_fast(request, form):
    """Count a message against the sender's budget (BAZAAR_RATE_MESSAGES, shared with the
    API). Over it, the form says how long to wait and the page answers 429; nothing is sent."""
    wait = rate_limit_wait(request, "messages")
    if wait:
        form.add_error(None, TOO_FAST.format(wait=wait_text(wait)))
    return bool(wait)


def other_party_name(conversation, user):
    """Who the person is talking to: the store for the buyer, the buyer for the seller."""
    if conversation.buyer_id == user.pk:
        return conversation.store_name
    return services.buyer_display_name(user=conversation.buyer)


def messages_window(*, conversation, user, limit=MESSAGES_SHOWN, before=None):
    """The newest `limit` messages the person can see (only those older than message `before`
    if given), oldest first, and whether there are older ones.

    `conversation` must have its listing and store loaded (selectors.conversation_for does):
    each message gets `sender_label` and `is_own`, each attachment `size_text`, with no query
    per message.
    """
    queryset = selectors.messages_for(conversation=conversation, user=user)
    if before is not None:
        queryset = queryset.filter(pk__lt=before)
    newest = list(queryset.order_by("-pk")[: limit + 1])
    has_earlier = len(newest) > limit
    shown = newest[:limit][::-1]
    for message in shown:
        message.conversation = conversation  # sender_name reads the store through it
        message.sender_label = services.message_sender_name(message=message)
        message.is_note = message.sender_role == SenderRole.NOTE
        message.is_own = message.sender_id == user.pk and not message.is_note
        message.is_staff = message.sender_role == SenderRole.STAFF
        for attachment in message.attachments.all():
            attachment.size_text = human_size(attachment.size)
    return shown, has_earlier


def mark_seen(*, conversation, user, shown):
    """The person has the shown messages in front of them: they are read (never further)."""
    if shown:
        services.conversation_mark_read(conversation=conversation, user=user, up_to_id=shown[-1].pk)


def _conversation_or_404(request, pk):
    try:
        return selectors.conversation_for(user=request.user, pk=pk)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None


def _before(request):
    try:
        before = int(request.GET.get("before", ""))
    except ValueError:
        return None
    return before if before > 0 else None


def _next(request):
    """Where to go after sending: the page the form was on, when that is on this site."""
    candidate = request.POST.get("next")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return None


def _report_sent(request, message, sent_text):
    warning = services.message_flag_warning(message=message)
    if warning:
        messages.warning(request, warning)
    else:
        messages.success(request, sent_text)


# --- Inbox --------------------------------------------------------------------------------------


@login_required
@require_GET
def inbox(request):
    queryset = selectors.inbox_for(user=request.user)
    # get_page() turns a missing, malformed or too-large page number into a real page.
    page_obj = Paginator(queryset, INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    conversations = list(page_obj.object_list)
    for conversation in conversations:
        conversation.other_party = other_party_name(conversation, request.user)
        conversation.is_buyer = conversation.buyer_id == request.user.pk
    return render(
        request,
        "messaging/inbox.html",
        {
            "page_obj": page_obj,
            "conversations": conversations,
            "preview_chars": PREVIEW_CHARS,
        },
    )


# --- One conversation ---------------------------------------------------------------------------


def _render_conversation(request, conversation, *, form, files_dropped=False, status=200):
    user = request.user
    before = _before(request)
    shown, has_earlier = messages_window(conversation=conversation, user=user, before=before)
    mark_seen(conversation=conversation, user=user, shown=shown)
    user_seen(user=user)
    return render(
        request,
        "messaging/conversation.html",
        {
            "conversation": conversation,
            "other_party": other_party_name(conversation, user),
            "is_buyer": conversation.buyer_id == user.pk,
            "conversation_messages": shown,
            "has_earlier": has_earlier,
            "earlier_before": shown[0].pk if shown else None,
            "viewing_earlier": before is not None,
            "form": form,
            "files_dropped": files_dropped,
        },
        status=status,
    )


@login_required
@require_GET
def conversation_detail(request, pk):
    conversation = _conversation_or_404(request, pk)
    return _render_conversation(request, conversation, form=MessageForm())


@login_required
@require_POST
def send(request, pk):
    conversation = _conversation_or_404(request, pk)
    form = MessageForm(request.POST, request.FILES)
    # Over the budget the form carries the reason, so it is no longer valid.
    throttled = form.is_valid() and _too_fast(request, form)
    if form.is_valid():
        try:
            message = services.message_send(
                conversation=conversation,
                sender=request.user,
                body=form.cleaned_data["body"],
                files=form.cleaned_data["files"],
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(conversation)
        else:
            _report_sent(request, message, "Message sent.")
            return redirect(_next(request) or conversation.get_absolute_url())
    # Browsers cannot be handed files back: say so, rather than let them vanish quietly.
    files_dropped = bool(request.FILES.getlist("files"))
    return _render_conversation(
        request,
        conversation,
        form=form,
        files_dropped=files_dropped,
        status=429 if throttled else 200,
    )


# --- Asking about a listing ---------------------------------------------------------------------


def _refusal(listing, user):
    """Why this person cannot ask about this listing, or ''. The service has the final word."""
    if listing.store.owner_id == user.pk:
        return OWN_LISTING
    if listing.status != ListingStatus.APPROVED:
        return NOT_ON_SALE
    return ""


@login_required
@require_http_methods(["GET", "POST"])
def inquiry(request, listing_pk):
    """A buyer's question about a listing. Asking again continues the same conversation."""
    listing = catalogue_selectors.listing_visible_get(pk=listing_pk, user=request.user)
    if request.method == "GET":
        existing = (
            selectors.conversations_for(user=request.user)
            .filter(kind=ConversationKind.INQUIRY, listing=listing, buyer=request.user)
            .first()
        )
        if existing is not None:
            return redirect(existing)
    form = MessageForm(request.POST or None, request.FILES or None)
    files_dropped = throttled = False
    if request.method == "POST":
        throttled = form.is_valid() and _too_fast(request, form)
        if form.is_valid():
            try:
                message = services.inquiry_send(
                    listing=listing,
                    buyer=request.user,
                    body=form.cleaned_data["body"],
                    files=form.cleaned_data["files"],
                )
            except ValidationFailed as exc:
                add_domain_errors(form, exc)
            else:
                _report_sent(
                    request,
                    message,
                    f"Your question was sent to {listing.store.name}. "
                    "We will let you know when they answer.",
                )
                return redirect(message.conversation)
        files_dropped = bool(request.FILES.getlist("files"))
    return render(
        request,
        "messaging/ask.html",
        {
            "listing": listing,
            "form": form,
            "refusal": "" if request.method == "POST" else _refusal(listing, request.user),
            "files_dropped": files_dropped,
        },
        status=429 if throttled else 200,
    )


# --- Writing to a store (its Contact page's "Message the seller") -------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def store_message(request, slug):
    """A buyer writes to a store. Bazaar does not publish sellers' email addresses: contact
    goes through messaging, where contact details are flagged as in every message. Writing
    again continues the same conversation."""
    store = catalogue_selectors.store_public_get(slug=slug)
    own = store.owner_id == request.user.pk
    if request.method == "GET" and not own:
        existing = (
            selectors.conversations_for(user=request.user)
            .filter(kind=ConversationKind.STORE, seller_id=store.owner_id, buyer=request.user)
            .first()
        )
        if existing is not None:
            return redirect(existing)
    form = StoreMessageForm(request.POST or None)
    throttled = False
    if request.method == "POST":
        throttled = form.is_valid() and _too_fast(request, form)
        if form.is_valid():
            try:
                message = services.store_message_send(
                    store=store, buyer=request.user, body=form.cleaned_data["body"]
                )
            except ValidationFailed as exc:
                add_domain_errors(form, exc)
            else:
                _report_sent(
                    request,
                    message,
                    f"Your message was sent to {store.name}. We will let you know when they "
                    "answer.",
                )
                return redirect(message.conversation)
    return render(
        request,
        "messaging/store_message.html",
        {"store": store, "form": form, "own": own},
        status=429 if throttled else 200,
    )
