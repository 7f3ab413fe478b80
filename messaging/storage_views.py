"""Attachment downloads, and the local stand-in for S3's signed URLs (files kept on disk).

`attachment_download` is where pages and clients send people: it checks access and redirects.
The signed views trust nothing but the signature: a link minted by `messaging.storage` after
that check, valid until it expires. They serve and accept files the way S3 does for a presigned
GET and a presigned POST, so pages and mobile clients work the same on both backends.
"""

from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from messaging import selectors, services
from messaging.models import Attachment, AttachmentState
from messaging.storage import (
    DOWNLOAD_SALT,
    UPLOAD_SALT,
    LinkExpired,
    PrivateFileStorage,
    attachment_storage,
    read_signed,
)


@login_required
@require_GET
def attachment_download(request, pk):
    """The one door to an attachment: check who asks, then redirect to a fresh short-lived URL.

    Someone outside the conversation gets a 404 and never a URL. Staff reach files from the
    admin (`?staff=1`), which needs the permission to view attachments.
    """
    try:
        if request.GET.get("staff"):
            attachment = selectors.attachment_for_staff(user=request.user, pk=pk)
        else:
            attachment = selectors.attachment_for(user=request.user, pk=pk)
    except Attachment.DoesNotExist:
        raise Http404("No such file.") from None
    response = redirect(services.attachment_download_url(attachment=attachment))
    response["Cache-Control"] = "private, no-store"
    return response


def _refused(status, text):
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


class _Refused(Exception):
    def __init__(self, status, text):
        super().__init__(text)
        self.response = _refused(status, text)


def _open_link(token, *, salt, expired):
    """(local storage, payload) of a signed link; raises _Refused with the answer otherwise."""
    storage = attachment_storage()
    if not isinstance(storage, PrivateFileStorage):
        raise _Refused(404, "Not found.")  # on S3 these links are never minted
    try:
        return storage, read_signed(token, salt=salt)
    except signing.BadSignature:
        raise _Refused(403, "This link is not valid.") from None
    except LinkExpired:
        raise _Refused(403, expired) from None


@require_GET
def signed_file(request, token):
    try:
        storage, payload = _open_link(
            token,
            salt=DOWNLOAD_SALT,
            expired="This link has expired. Go back to the conversation and try again.",
        )
    except _Refused as refused:
        return refused.response
    if not storage.exists(payload["k"]):
        return _refused(404, "This file is no longer available.")
    response = FileResponse(storage.open(payload["k"], "rb"), content_type=payload["t"])
    response["Content-Disposition"] = content_disposition_header(True, payload["n"])
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@csrf_exempt  # authorised by the signed URL, like a presigned POST to S3
@require_POST
def signed_upload(request, token):
    try:
        storage, payload = _open_link(
            token, salt=UPLOAD_SALT, expired="This upload link has expired. Ask for a new one."
        )
    except _Refused as refused:
        return refused.response
    # Refused before Django reads a byte of an oversized body (64 KiB leaves room for the form).
    if int(request.META.get("CONTENT_LENGTH") or 0) > payload["m"] + 64 * 1024:
        return _refused(400, f"The file must be between 1 and {payload['m']} bytes.")
    # Only into a key still waiting for its file: not one already filled, sent (its bytes were
    # copied away) or given up on, which would leave bytes that nothing tracks.
    waiting = Attachment.objects.filter(key=payload["k"], state=AttachmentState.PENDING)
    if storage.exists(payload["k"]) or not waiting.exists():
        return _refused(409, "This upload link was already used.")
    upload = request.FILES.get("file")
    if upload is None:
        return _refused(400, "Send the file in a form field named “file”.")
    if not 1 <= upload.size <= payload["m"]:
        # S3 answers EntityTooLarge / EntityTooSmall for a policy's content-length-range.
        return _refused(400, f"The file must be between 1 and {payload['m']} bytes.")
    saved = storage.save(payload["k"], upload)
    if saved != payload["k"]:
        # A concurrent POST won the key; ours landed under another name: drop it.
        storage.delete(saved)
        return _refused(409, "This upload link was already used.")
    return HttpResponse(status=204)
