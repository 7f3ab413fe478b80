"""Every write of the messaging app: conversations, messages, attachments, read state, moderation.

Sending is all or nothing: every file is checked (by content) before anything is stored, and a
failure after a file reached storage deletes it again, so a rejected message leaves no trace.
"""

import uuid
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.selectors import user_is_online
from core.audit import audit_record
from core.errors import NotAllowed, ValidationFailed
from marketplace.models import ListingStatus
from messaging import contact_details
from messaging.files import HEAD_BYTES, FileRejected, check_file, human_size
from messaging.models import (
    Attachment,
    AttachmentState,
    Conversation,
    ConversationKind,
    Message,
    Participant,
    ParticipantRole,
    Review,
    SenderRole,
)
from messaging.storage import attachment_storage
from notifications.services import notifications_mark_read_for, notify

MAX_BODY_CHARS = 5000
PREVIEW_CHARS = 140
# Direct uploads a person may have handed out and not yet sent, so storage cannot be filled
# with files that never reach a message.
MAX_OPEN_UPLOADS = 20
STALE_UPLOAD_AGE = timedelta(days=1)
MESSAGE_EVENT = "message.received"

BLOCKED_MESSAGE = (
    "Keep contact details out of messages until the order is paid: staff will check this "
    "message before it is delivered."
)
FLAGGED_WARNING = (
    "Your message seems to contain {found}. Sharing contact or payment details before the "
    "order is paid breaks Bazaar's rules, and payments made outside Bazaar are not protected. "
    "Staff will review it."
)


class _BadUpload(Exception):
    """A direct upload failed its check; it is forgotten once the transaction has rolled back."""

    def __init__(self, attachment, message):
        super().__init__(message)
        self.attachment = attachment
        self.message = message


def _forget(attachment):
    attachment_storage().delete(attachment.key)
    Attachment.objects.filter(pk=attachment.pk).delete()


@contextmanager
def _forgetting_bad_uploads():
    """Forget a rejected direct upload once the sending transaction has rolled back (inside
    it, the row's deletion would be rolled back too). Wraps the outermost transaction."""
    try:
        yield
    except _BadUpload as exc:
        _forget(exc.attachment)
        raise ValidationFailed({"uploads": exc.message}) from None


# --- Conversations ------------------------------------------------------------------------------


def _open_conversation(**fields):
    """Create a conversation with its two seats, or return the one a concurrent request made."""
    lookup = {"order": fields["order"]} if fields.get("order") else fields
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(**fields)
            Participant.objects.bulk_create(
                [
                    Participant(
                        conversation=conversation,
                        user_id=fields["buyer"].pk,
                        role=ParticipantRole.BUYER,
                    ),
                    Participant(
                        conversation=conversation,
                        user_id=fields["seller"].pk,
                        role=ParticipantRole.SELLER,
                    ),
                ]
            )
    except IntegrityError:
        return Conversation.objects.get(**lookup)
    return conversation


def conversation_open_for_order(*, order):
    """The conversation of an order: opened when the order is placed (escrow's order_placed
    signal), or by the first message of an order placed before that. Idempotent."""
    existing = Conversation.objects.filter(order=order).first()
    if existing is not None:
        return existing
    return _open_conversation(
        kind=ConversationKind.ORDER,
        order=order,
        listing=order.listing,
        buyer=order.buyer,
        seller=order.seller,
    )


def inquiry_send(*, listing, buyer, body, files=(), upload_ids=()):
    """A buyer's message about a listing; the first one opens the conversation.

    Returns the Message. Nothing is saved if the message is rejected.
    """
    with _forgetting_bad_uploads():
        return _inquiry_send(listing, buyer, body, files, upload_ids)


@transaction.atomic
def _inquiry_send(listing, buyer, body, files, upload_ids):
    seller = listing.store.owner
    if buyer.pk == seller.pk:
        raise ValidationFailed({"body": "This is your own listing: there is nobody to ask."})
    conversation = Conversation.objects.filter(
        kind=ConversationKind.INQUIRY, listing=listing, buyer=buyer
    ).first()
    if conversation is None:
        if listing.status != ListingStatus.APPROVED:
            raise ValidationFailed(
                {"body": "This listing is not on sale, so it takes no questions."}
            )
        conversation = _open_conversation(
            kind=ConversationKind.INQUIRY, listing=listing, buyer=buyer, seller=seller
        )
    return _post(conversation, buyer, SenderRole.BUYER, body, files, upload_ids)


@transaction.atomic
def store_message_send(*, store, buyer, body):
    """A buyer writes to a store (its Contact page): the first message opens the conversation,
    later ones continue it. Returns the Message; nothing is saved if it is rejected.

    The rule for contact between buyers and sellers: it goes through Bazaar's messaging. The
    Contact page offers this instead of the seller's email address, and messages keep being
    checked for contact details (contact_details.py) like every other message."""
    seller = store.owner
    if buyer.pk == seller.pk:
        raise ValidationFailed({"body": "This is your own store: there is nobody to write to."})
    conversation = Conversation.objects.filter(
        kind=ConversationKind.STORE, seller=seller, buyer=buyer
    ).first()
    if conversation is None:
        conversation = _open_conversation(kind=ConversationKind.STORE, buyer=buyer, seller=seller)
    return _post(conversation, buyer, SenderRole.BUYER, body, (), ())


# --- Sending ------------------------------------------------------------------------------------


def _role_of(conversation, user):
    if user.pk == conversation.buyer_id:
        return SenderRole.BUYER
    if user.pk == conversation.seller_id:
        return SenderRole.SELLER
    return None


def message_send(*, conversation, sender, body, files=(), upload_ids=()):
    """A buyer or seller writes in their conversation. Returns the Message.

    `files` are uploaded files (Django's UploadedFile); `upload_ids` are direct uploads handed
    out by `upload_start`. Contact details before payment flag the message for staff.
    """
    role = _role_of(conversation, sender)
    if role is None:
        raise NotAllowed("Only the buyer and the seller can write in this conversation.")
    with _forgetting_bad_uploads():
        return _post(conversation, sender, role, body, files, upload_ids)


def order_note_post(*, order, author, body):
    """A note from Bazaar in the order's conversation, recording what `author` did (a dispute
    opened, escrow.signals.dispute_opened): both sides read it there, and that is where they add
    their evidence. The parties are told by the event itself, so the note notifies nobody."""
    conversation = conversation_open_for_order(order=order)
    body = (body or "").strip()[:MAX_BODY_CHARS]
    message = Message.objects.create(
        conversation=conversation, sender=author, sender_role=SenderRole.NOTE, body=body
    )
    Conversation.objects.filter(pk=conversation.pk).filter(
        Q(last_message_at__isnull=True) | Q(last_message_at__lt=message.created_at)
    ).update(last_message_at=message.created_at)
    return message


def message_post_as_staff(*, conversation, staff, body, files=()):
    """Staff write into a conversation (a dispute, a warning); both sides see it marked so."""
    if not staff.is_staff:
        raise NotAllowed("Only Bazaar staff can post as staff.")
    return _post(conversation, staff, SenderRole.STAFF, body, files, ())


def _before_payment(conversation):
    # Inquiries and messages to a store are always before payment; an order's conversation
    # until the buyer has paid.
    if conversation.kind in (ConversationKind.INQUIRY, ConversationKind.STORE):
        return True
    return conversation.order.funded_at is None


def _check_uploaded_files(files):
    """[(file, safe name, FileType)], or ValidationFailed naming every rejected file."""
    checked, errors = [], []
    for upload in files:
        head = upload.read(HEAD_BYTES)
        upload.seek(0)
        try:
            name, file_type = check_file(
                name=upload.name or "file",
                size=upload.size,
                head=head,
                max_bytes=settings.MESSAGING_ATTACHMENT_MAX_BYTES,
            )
        except FileRejected as exc:
            errors.append(exc.message)
        else:
            checked.append((upload, name, file_type))
    if errors:
        raise ValidationFailed({"files": errors})
    return checked


def _new_key(conversation):
    # Random and free of anything the sender typed: keys cannot be guessed or steered.
    return f"c{conversation.pk}/{uuid.uuid4().hex}"


def _upload_key(conversation):
    # Keys handed out for direct uploads live apart under incoming/: S3 cannot refuse a second
    # POST of a still-valid form after the file was sent (copied away) or refused, so a bucket
    # lifecycle rule on incoming/ expires whatever lands there (see README).
    return f"incoming/c{conversation.pk}/{uuid.uuid4().hex}"


def _post(conversation, sender, role, body, files, upload_ids):
    body = (body or "").strip()
    files = list(files or ())
    upload_ids = list(upload_ids or ())
    if not body and not files and not upload_ids:
        raise ValidationFailed({"body": "Write a message or attach a file."})
    if len(body) > MAX_BODY_CHARS:
        raise ValidationFailed(
            {"body": f"A message can be at most {MAX_BODY_CHARS} characters ({len(body)} now)."}
        )
    limit = settings.MESSAGING_ATTACHMENT_MAX_FILES
    if len(files) + len(upload_ids) > limit:
        raise ValidationFailed({"files": f"Attach at most {limit} files to one message."})
    checked = _check_uploaded_files(files)

    flags = []
    if role != SenderRole.STAFF and _before_payment(conversation):
        flags = [
            {"kind": f.kind, "text": f.text} for f in contact_details.find_contact_details(body)
        ]
    held = bool(flags) and settings.MESSAGING_BLOCK_CONTACT_DETAILS

    storage = attachment_storage()
    stored_keys = []
    committed = []
    try:
        with transaction.atomic():
            # The first commit callback: once it ran, the files belong to a saved message, and
            # a later callback's failure (a broker, S3) must not delete them.
            transaction.on_commit(lambda: committed.append(True))
            uploads = _claim_uploads(conversation, sender, upload_ids, stored_keys)
            message = Message.objects.create(
                conversation=conversation,
                sender=sender,
                sender_role=role,
                body=body,
                contact_flags=flags,
                review=Review.PENDING if flags else Review.NONE,
                held=held,
            )
            for upload, name, file_type in checked:
                # Stored with the type we detected, not the one the client claimed.
                upload.content_type = file_type.content_type
                key = storage.save(_new_key(conversation), upload)
                stored_keys.append(key)
                Attachment.objects.create(
                    conversation=conversation,
                    message=message,
                    uploaded_by=sender,
                    state=AttachmentState.ATTACHED,
                    key=key,
                    name=name,
                    content_type=file_type.content_type,
                    size=upload.size,
                )
            for attachment in uploads:
                attachment.message = message
                attachment.state = AttachmentState.ATTACHED
                attachment.save(update_fields=["message", "state"])
            # Never backwards: the other side's newer message may have been read meanwhile.
            Participant.objects.filter(
                conversation=conversation, user=sender, last_read_id__lt=message.pk
            ).update(last_read_id=message.pk, last_read_at=timezone.now())
            # Answering is reading: the bell stops pointing at what they just answered.
            notifications_mark_read_for(
                user=sender, event_code=MESSAGE_EVENT, action_url=conversation.get_absolute_url()
            )
            if not held:
                _deliver(message)
    except BaseException:
        if not committed:
            for key in stored_keys:
                storage.delete(key)
        raise
    return message


def _claim_uploads(conversation, sender, upload_ids, stored_keys):
    """Lock the sender's direct uploads and move each to a key nobody holds an upload form for.

    Until its presigned POST expires, a client can replace an object, even after confirming
    it. So the bytes that go on the message are a copy under a fresh key, checked there; the
    original key is deleted once the message is committed.
    """
    if not upload_ids:
        return []
    try:
        ids = list(dict.fromkeys(uuid.UUID(str(i)) for i in upload_ids))
    except ValueError:
        raise ValidationFailed({"uploads": "An upload id is not valid."}) from None
    uploads = list(
        Attachment.objects.select_for_update().filter(
            pk__in=ids,
            conversation=conversation,
            uploaded_by=sender,
            state__in=[AttachmentState.PENDING, AttachmentState.UPLOADED],
        )
    )
    if len(uploads) != len(ids):
        raise ValidationFailed(
            {"uploads": "An upload is unknown, already sent, or belongs to another conversation."}
        )
    storage = attachment_storage()
    for attachment in uploads:
        if not storage.exists(attachment.key):
            raise ValidationFailed(
                {"uploads": f"“{attachment.name}” has not arrived yet: upload it, then send again."}
            )
        handed_out = attachment.key
        sealed = storage.copy(handed_out, _new_key(conversation))
        stored_keys.append(sealed)
        attachment.key = sealed
        try:
            _check_stored(attachment)
        except _BadUpload:
            storage.delete(handed_out)
            raise
        transaction.on_commit(lambda key=handed_out: storage.delete(key), robust=True)
    return uploads


def _deliver(message):
    """Show a message to the other side: bump the conversation and tell them."""
    conversation = message.conversation
    # Never backwards: a held message cleared later, or a slower concurrent send, is older.
    Conversation.objects.filter(pk=conversation.pk).filter(
        Q(last_message_at__isnull=True) | Q(last_message_at__lt=message.created_at)
    ).update(last_message_at=message.created_at)
    if not conversation.last_message_at or conversation.last_message_at < message.created_at:
        conversation.last_message_at = message.created_at
    for seat in Participant.objects.filter(conversation=conversation).select_related("user"):
        if seat.user_id == message.sender_id:
            continue
        # One notification per conversation until they read it, not one per message.
        earlier_unread = (
            Message.objects.filter(
                conversation=conversation,
                held=False,
                pk__gt=seat.last_read_id,
                pk__lt=message.pk,
            )
            .exclude(sender_id=seat.user_id)
            .exists()
        )
        # Staff write rarely and it matters (a dispute): they always notify.
        if earlier_unread and message.sender_role != SenderRole.STAFF:
            continue
        notify(
            seat.user,
            MESSAGE_EVENT,
            {
                "sender_name": message_sender_name(message=message),
                "subject": conversation.subject,
                "preview": _preview(message),
                "conversation_id": conversation.pk,
                "action_url": conversation.get_absolute_url(),
            },
            email=not user_is_online(seat.user),
        )


def message_sender_name(*, message):
    """How a message's author is shown: the store for a seller, 'Bazaar staff' for staff."""
    if message.sender_role == SenderRole.STAFF:
        return "Bazaar staff"
    if message.sender_role == SenderRole.NOTE:
        return "Bazaar"
    if message.sender_role == SenderRole.SELLER:
        return message.conversation.store_name
    return buyer_display_name(user=message.sender)


def buyer_display_name(*, user):
    """A buyer as a seller sees them: their name, never their email (a contact detail)."""
    return user.full_name.strip() or "A Bazaar buyer"


def _preview(message):
    if message.body:
        text = " ".join(message.body.split())
        return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
    names = [a.name for a in message.attachments.all()]
    return "Sent " + (", ".join(names) if names else "a file")


def message_flag_warning(*, message):
    """The sentence shown to the sender of a flagged message, or ''."""
    if not message.contact_flags:
        return ""
    if message.held:
        return BLOCKED_MESSAGE
    labels = []
    for flag in message.contact_flags:
        label = contact_details.KIND_LABELS.get(flag["kind"], flag["kind"])
        if label not in labels:
            labels.append(label)
    found = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return FLAGGED_WARNING.format(found=found)


# --- Read state ---------------------------------------------------------------------------------


@transaction.atomic
def conversation_mark_read(*, conversation, user, up_to_id=None):
    """Mark read everything `user` can see in the conversation (up to `up_to_id` if given)."""
    visible = Message.objects.filter(conversation=conversation, held=False)
    if up_to_id is not None:
        visible = visible.filter(pk__lte=up_to_id)
    latest = visible.order_by("-pk").values_list("pk", flat=True).first()
    if latest is None:
        return 0
    # Pointers only move forward: an older tab marking read cannot make messages unread again.
    moved = Participant.objects.filter(
        conversation=conversation, user=user, last_read_id__lt=latest
    ).update(last_read_id=latest, last_read_at=timezone.now())
    if moved:
        notifications_mark_read_for(
            user=user, event_code=MESSAGE_EVENT, action_url=conversation.get_absolute_url()
        )
    return moved


# --- Direct uploads -----------------------------------------------------------------------------


def upload_start(*, conversation, user, filename, size):
    """Hand out a direct upload for one file: (Attachment, {"url", "fields"}).

    The client POSTs the file to `url` with `fields`, then sends the message with the upload's
    id (or confirms it first). The storage policy caps the size; the type is checked later,
    from the stored bytes.
    """
    if _role_of(conversation, user) is None:
        raise NotAllowed("Only the buyer and the seller can attach files here.")
    limit = settings.MESSAGING_ATTACHMENT_MAX_BYTES
    if size < 1:
        raise ValidationFailed({"size": "The file is empty."})
    if size > limit:
        raise ValidationFailed(
            {"size": f"The file is {human_size(size)}; files can be at most {human_size(limit)}."}
        )
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:200]
    if not name:
        raise ValidationFailed({"filename": "Give the file's name."})
    open_uploads = Attachment.objects.filter(
        uploaded_by=user, state__in=[AttachmentState.PENDING, AttachmentState.UPLOADED]
    ).count()
    if open_uploads >= MAX_OPEN_UPLOADS:
        raise ValidationFailed(
            {"filename": "Send or wait out your earlier uploads before starting more."}
        )
    attachment = Attachment.objects.create(
        conversation=conversation,
        uploaded_by=user,
        key=_upload_key(conversation),
        name=name,
        size=size,
        state=AttachmentState.PENDING,
    )
    form = attachment_storage().upload_form(
        attachment.key, max_bytes=limit, expire=settings.MESSAGING_UPLOAD_URL_EXPIRY
    )
    return attachment, form


def upload_confirm(*, attachment):
    """Check a direct upload in storage now (size and type from its bytes). Returns it.

    A file that fails the check is deleted from storage and forgotten, and ValidationFailed
    says why; the client may start a new upload.
    """
    try:
        with transaction.atomic():
            locked = Attachment.objects.select_for_update().get(pk=attachment.pk)
            if locked.state == AttachmentState.PENDING:
                _check_stored(locked)
            return locked
    except _BadUpload as exc:
        _forget(exc.attachment)
        raise ValidationFailed({"uploads": exc.message}) from None


def _check_stored(attachment):
    """Size and type of a direct upload, read back from storage. Call with the row locked."""
    storage = attachment_storage()
    if not storage.exists(attachment.key):
        raise ValidationFailed(
            {"uploads": f"“{attachment.name}” has not arrived yet: upload it, then send again."}
        )
    size = storage.size(attachment.key)
    head = storage.read_head(attachment.key, min(size, HEAD_BYTES)) if size else b""
    try:
        name, file_type = check_file(
            name=attachment.name,
            size=size,
            head=head,
            max_bytes=settings.MESSAGING_ATTACHMENT_MAX_BYTES,
        )
    except FileRejected as exc:
        raise _BadUpload(attachment, exc.message) from None
    attachment.name = name
    attachment.size = size
    attachment.content_type = file_type.content_type
    attachment.state = AttachmentState.UPLOADED
    attachment.save(update_fields=["key", "name", "size", "content_type", "state"])


def uploads_purge_stale(*, older_than=STALE_UPLOAD_AGE):
    """Delete direct uploads that never reached a message. Returns how many went."""
    cutoff = timezone.now() - older_than
    storage = attachment_storage()
    purged = 0
    stale = Attachment.objects.filter(
        state__in=[AttachmentState.PENDING, AttachmentState.UPLOADED], created_at__lt=cutoff
    )
    for attachment in stale.iterator():
        # Checked again at delete time: a send may have attached it since the snapshot.
        deleted, _ = Attachment.objects.filter(
            pk=attachment.pk, state__in=[AttachmentState.PENDING, AttachmentState.UPLOADED]
        ).delete()
        if deleted:
            storage.delete(attachment.key)
            purged += 1
    return purged


# --- Downloads ----------------------------------------------------------------------------------


def attachment_download_url(*, attachment):
    """A fresh short-lived URL for an attachment. Call only after the access check
    (`messaging.selectors.attachment_for`)."""
    return attachment_storage().download_url(
        attachment.key,
        filename=attachment.name,
        content_type=attachment.content_type or "application/octet-stream",
        expire=settings.MESSAGING_ATTACHMENT_URL_EXPIRY,
    )


# --- Moderation (staff) -------------------------------------------------------------------------


def attachment_remove(*, attachment, staff, reason=""):
    """Staff take a file down: the stored object is deleted; the message says it was removed."""
    if not staff.is_staff:
        raise NotAllowed("Only Bazaar staff can remove attachments.")
    with transaction.atomic():
        locked = Attachment.objects.select_for_update().get(pk=attachment.pk)
        if locked.state == AttachmentState.REMOVED:
            return locked
        before = {"state": locked.state}
        # Deleted before the row says so: "removed" always means the bytes are gone.
        attachment_storage().delete(locked.key)
        locked.state = AttachmentState.REMOVED
        locked.removed_at = timezone.now()
        locked.removed_by = staff
        locked.removed_reason = reason[:300]
        locked.save(update_fields=["state", "removed_at", "removed_by", "removed_reason"])
        audit_record(
            action="messaging.attachment.removed",
            actor=staff,
            target=locked,
            before=before,
            after={"state": locked.state, "reason": locked.removed_reason},
        )
    return locked


@transaction.atomic
def message_review(*, message, staff, verdict):
    """Staff decide on a flagged message: CLEARED delivers it if it was held; CONFIRMED keeps
    a held message from the other side."""
    if not staff.is_staff:
        raise NotAllowed("Only Bazaar staff can review messages.")
    if verdict not in (Review.CLEARED, Review.CONFIRMED):
        raise ValidationFailed({"verdict": "Choose cleared or confirmed."})
    locked = Message.objects.select_for_update().select_related("conversation").get(pk=message.pk)
    if not locked.contact_flags:
        raise ValidationFailed({"verdict": "This message was not flagged, so there is no review."})
    if locked.review == verdict:
        return locked
    before = {"review": locked.review, "held": locked.held}
    locked.review = verdict
    locked.reviewed_by = staff
    locked.reviewed_at = timezone.now()
    deliver = verdict == Review.CLEARED and locked.held
    if deliver:
        locked.held = False
    locked.save(update_fields=["review", "reviewed_by", "reviewed_at", "held"])
    if deliver:
        # Its id is older than what the other side may have read meanwhile: put it back in
        # their unread (with what follows it), or it lands mid-thread with no badge.
        Participant.objects.filter(
            conversation_id=locked.conversation_id, last_read_id__gte=locked.pk
        ).exclude(user_id=locked.sender_id).update(last_read_id=locked.pk - 1)
        _deliver(locked)
    audit_record(
        action=f"messaging.message.{verdict}",
        actor=staff,
        target=locked,
        before=before,
        after={"review": locked.review, "held": locked.held},
    )
    return locked
