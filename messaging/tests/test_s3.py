"""Attachments on S3: PrivateS3Storage against a real S3 API (moto's server, made strict about
expiry and upload policies by messaging.tests.s3server), through services and the download view.

Presigned URLs are fetched with `requests` from the server itself, as a browser or a mobile
client would; nothing here mocks boto3 or django-storages.
"""

import re
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from django.core.files.uploadedfile import SimpleUploadedFile
from django.shortcuts import resolve_url
from django.urls import reverse

from accounts.factories import UserFactory
from core.errors import ValidationFailed
from messaging import services
from messaging.factories import ConversationFactory
from messaging.models import Attachment, AttachmentState, Message
from messaging.tests.samples import EXE, PDF

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation():
    return ConversationFactory()


def send_pdf(conversation, name="Quote 2024.pdf", data=PDF):
    """The buyer sends a message with one file; returns its Attachment."""
    message = services.message_send(
        conversation=conversation,
        sender=conversation.buyer,
        body="The quote is attached.",
        files=[SimpleUploadedFile(name, data, content_type="application/pdf")],
    )
    return message.attachments.get()


def download_location(client, user, attachment):
    """Where the download view sends `user`: the presigned URL."""
    client.force_login(user)
    response = client.get(reverse("messaging:attachment", args=[attachment.pk]))
    assert response.status_code == 302
    return response["Location"]


def object_key(attachment):
    return f"attachments/{attachment.key}"


def post_upload(form, data, filename="upload.pdf"):
    """A client's presigned POST: the policy's fields, then the file last, as S3 requires."""
    return requests.post(form["url"], data=form["fields"], files={"file": (filename, data)})


# --- Sending with files -------------------------------------------------------------------------


def test_a_sent_file_is_stored_privately_under_a_random_key(s3_attachments, conversation):
    attachment = send_pdf(conversation, name="Quote 2024.pdf")

    key = object_key(attachment)
    assert s3_attachments.keys() == [key]
    stored = s3_attachments.client.get_object(Bucket=s3_attachments.bucket, Key=key)
    assert stored["Body"].read() == PDF
    # Nothing the sender typed or who they are: the conversation's folder and 128 random bits.
    assert re.fullmatch(rf"attachments/c{conversation.pk}/[0-9a-f]{{32}}", key)
    assert send_pdf(conversation, name="Quote 2024.pdf").key != attachment.key


def test_the_stored_object_is_not_readable_without_a_signature(s3_attachments, conversation):
    attachment = send_pdf(conversation)

    plain = f"{s3_attachments.endpoint}/{s3_attachments.bucket}/attachments/{attachment.key}"
    response = requests.get(plain)

    assert response.status_code == 403
    assert PDF not in response.content


def test_a_rejected_message_stores_nothing(s3_attachments, conversation):
    files = [
        SimpleUploadedFile("brief.pdf", PDF, content_type="application/pdf"),
        SimpleUploadedFile("report.pdf", EXE, content_type="application/pdf"),
    ]

    with pytest.raises(ValidationFailed) as caught:
        services.message_send(
            conversation=conversation, sender=conversation.buyer, body="Both files", files=files
        )

    assert "Windows program" in caught.value.errors["files"][0]
    assert s3_attachments.keys() == []
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()


# --- Downloads ----------------------------------------------------------------------------------


def test_the_download_link_works_until_it_expires(s3_attachments, conversation, client, settings):
    attachment = send_pdf(conversation, name="Quote 2024.pdf")

    url = download_location(client, conversation.seller, attachment)

    assert url.startswith(f"{s3_attachments.endpoint}/{s3_attachments.bucket}/attachments/")
    fetched = requests.get(url)
    assert fetched.status_code == 200
    assert fetched.content == PDF
    assert fetched.headers["Content-Type"] == "application/pdf"
    disposition = fetched.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert "Quote 2024.pdf" in disposition

    s3_attachments.server.advance(settings.MESSAGING_ATTACHMENT_URL_EXPIRY + 1)
    expired = requests.get(url)

    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code>" in expired.text
    assert "Request has expired" in expired.text
    assert PDF not in expired.content


def test_a_link_is_still_good_just_before_it_expires(
    s3_attachments, conversation, client, settings
):
    attachment = send_pdf(conversation)
    url = download_location(client, conversation.buyer, attachment)

    s3_attachments.server.advance(settings.MESSAGING_ATTACHMENT_URL_EXPIRY - 2)

    assert requests.get(url).content == PDF


def expires_in(url):
    return parse_qs(urlsplit(url).query)["X-Amz-Expires"]


def test_links_last_as_long_as_the_setting_says(s3_attachments, conversation, client):
    attachment = send_pdf(conversation)

    assert expires_in(download_location(client, conversation.seller, attachment)) == ["300"]


def test_a_shorter_expiry_setting_gives_shorter_links(
    s3_attachments, conversation, client, settings
):
    settings.MESSAGING_ATTACHMENT_URL_EXPIRY = 60
    attachment = send_pdf(conversation)

    url = download_location(client, conversation.seller, attachment)

    assert expires_in(url) == ["60"]
    s3_attachments.server.advance(61)
    assert requests.get(url).status_code == 403


def test_someone_outside_the_conversation_gets_no_link(s3_attachments, conversation, client):
    attachment = send_pdf(conversation)
    client.force_login(UserFactory())

    response = client.get(reverse("messaging:attachment", args=[attachment.pk]))

    assert response.status_code == 404
    assert "Location" not in response
    assert s3_attachments.endpoint.encode() not in response.content
    assert s3_attachments.bucket.encode() not in response.content


def test_anonymous_visitors_are_sent_to_log_in(s3_attachments, conversation, client, settings):
    attachment = send_pdf(conversation)

    response = client.get(reverse("messaging:attachment", args=[attachment.pk]))

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(resolve_url(settings.LOGIN_URL) + "?next=")
    assert s3_attachments.endpoint not in location
    assert s3_attachments.bucket not in location


# --- Moderation ---------------------------------------------------------------------------------


def test_staff_removal_deletes_the_object(s3_attachments, conversation, client):
    attachment = send_pdf(conversation)
    key = object_key(attachment)
    url = download_location(client, conversation.seller, attachment)

    services.attachment_remove(
        attachment=attachment, staff=UserFactory(is_staff=True), reason="Spam"
    )

    with pytest.raises(s3_attachments.client.exceptions.ClientError) as caught:
        s3_attachments.client.head_object(Bucket=s3_attachments.bucket, Key=key)
    assert caught.value.response["Error"]["Code"] == "404"
    # A link handed out before the removal finds nothing either (S3 says 403 or 404 for a
    # missing key, depending on the signer's permission to list the bucket).
    gone = requests.get(url)
    assert gone.status_code in (403, 404)
    assert PDF not in gone.content
    response = client.get(reverse("messaging:attachment", args=[attachment.pk]))
    assert response.status_code == 404


# --- Direct uploads -----------------------------------------------------------------------------


def start_upload(conversation, filename="brief.pdf", size=None):
    return services.upload_start(
        conversation=conversation,
        user=conversation.buyer,
        filename=filename,
        size=len(PDF) if size is None else size,
    )


def test_a_direct_upload_reaches_a_message(
    s3_attachments, conversation, client, django_capture_on_commit_callbacks
):
    attachment, form = start_upload(conversation, filename="brief.pdf", size=5)
    assert form["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"

    assert post_upload(form, PDF).status_code == 204
    confirmed = services.upload_confirm(attachment=attachment)

    assert confirmed.state == AttachmentState.UPLOADED
    assert confirmed.size == len(PDF)  # read back from S3, not what the client announced
    assert confirmed.content_type == "application/pdf"
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_send(
            conversation=conversation,
            sender=conversation.buyer,
            body="",
            upload_ids=[str(attachment.pk)],
        )
    sent = message.attachments.get()
    assert sent.pk == attachment.pk
    assert sent.state == AttachmentState.ATTACHED
    # Sent as a copy under a key no upload form points at; the uploaded original is gone.
    assert sent.key != attachment.key
    assert s3_attachments.keys() == [object_key(sent)]
    url = download_location(client, conversation.seller, sent)
    assert requests.get(url).content == PDF


def test_a_direct_upload_over_the_limit_is_refused_by_s3(s3_attachments, conversation, settings):
    settings.MESSAGING_ATTACHMENT_MAX_BYTES = len(PDF)
    attachment, form = start_upload(conversation)

    response = post_upload(form, PDF + b"x")

    assert response.status_code == 400
    assert "<Code>EntityTooLarge</Code>" in response.text
    assert s3_attachments.keys() == []
    with pytest.raises(ValidationFailed) as caught:
        services.upload_confirm(attachment=attachment)
    assert "has not arrived yet" in caught.value.errors["uploads"][0]


def test_an_upload_form_stops_working_when_it_expires(s3_attachments, conversation, settings):
    _attachment, form = start_upload(conversation)

    s3_attachments.server.advance(settings.MESSAGING_UPLOAD_URL_EXPIRY + 1)
    response = post_upload(form, PDF)

    assert response.status_code == 403
    assert "Policy expired" in response.text
    assert s3_attachments.keys() == []


def put_past_the_policy(s3_attachments, attachment, data):
    """Bytes that reach the upload's key without the presigned POST (a buggy or hostile client)."""
    s3_attachments.client.put_object(
        Bucket=s3_attachments.bucket, Key=object_key(attachment), Body=data
    )


def test_a_disguised_program_that_reached_s3_is_deleted(s3_attachments, conversation):
    attachment, _form = start_upload(conversation, filename="x.pdf", size=len(EXE))
    put_past_the_policy(s3_attachments, attachment, EXE)

    with pytest.raises(ValidationFailed) as caught:
        services.upload_confirm(attachment=attachment)

    assert "“x.pdf” is not a file type we accept" in caught.value.errors["uploads"][0]
    assert "Windows program" in caught.value.errors["uploads"][0]
    assert s3_attachments.keys() == []
    assert not Attachment.objects.exists()


def test_an_oversized_object_that_reached_s3_is_deleted(s3_attachments, conversation, settings):
    attachment, _form = start_upload(conversation)
    put_past_the_policy(s3_attachments, attachment, PDF + bytes(100))
    settings.MESSAGING_ATTACHMENT_MAX_BYTES = len(PDF)

    with pytest.raises(ValidationFailed) as caught:
        services.upload_confirm(attachment=attachment)

    assert "files can be at most" in caught.value.errors["uploads"][0]
    assert s3_attachments.keys() == []
    assert not Attachment.objects.exists()


def test_sending_an_unconfirmed_bad_upload_deletes_it(s3_attachments, conversation):
    attachment, _form = start_upload(conversation, filename="x.pdf", size=len(EXE))
    put_past_the_policy(s3_attachments, attachment, EXE)

    with pytest.raises(ValidationFailed) as caught:
        services.message_send(
            conversation=conversation,
            sender=conversation.buyer,
            body="Here it is",
            upload_ids=[str(attachment.pk)],
        )

    assert "Windows program" in caught.value.errors["uploads"][0]
    assert s3_attachments.keys() == []
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()


# --- The strict server itself -------------------------------------------------------------------


def test_the_strict_server_refuses_an_upload_below_the_policy_minimum(s3_attachments):
    form = s3_attachments.client.generate_presigned_post(
        Bucket=s3_attachments.bucket,
        Key="attachments/small",
        Conditions=[["content-length-range", 10, 100]],
        ExpiresIn=60,
    )

    response = post_upload(form, b"tiny")

    assert response.status_code == 400
    assert "<Code>EntityTooSmall</Code>" in response.text
    assert s3_attachments.keys() == []
    assert post_upload(form, b"just right").status_code == 204
    assert s3_attachments.keys() == ["attachments/small"]


def test_the_strict_server_refuses_expired_sigv2_urls(s3_attachments):
    s3_attachments.client.put_object(Bucket=s3_attachments.bucket, Key="k", Body=b"v2")
    v2 = boto3.client(
        "s3",
        endpoint_url=s3_attachments.endpoint,
        region_name="us-east-1",
        config=Config(signature_version="s3", s3={"addressing_style": "path"}),
    )
    url = v2.generate_presigned_url(
        "get_object", Params={"Bucket": s3_attachments.bucket, "Key": "k"}, ExpiresIn=30
    )
    assert "Expires=" in url and "X-Amz-Expires" not in url
    assert requests.get(url).content == b"v2"

    s3_attachments.server.advance(31)

    assert requests.get(url).status_code == 403


def test_posting_the_upload_form_again_after_sending_cannot_change_the_sent_file(
    s3_attachments, conversation, client, django_capture_on_commit_callbacks
):
    attachment, form = start_upload(conversation, filename="brief.pdf")
    assert post_upload(form, PDF).status_code == 204
    services.upload_confirm(attachment=attachment)
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_send(
            conversation=conversation,
            sender=conversation.buyer,
            body="The brief",
            upload_ids=[str(attachment.pk)],
        )

    # The presigned POST is still valid, and S3 lets it overwrite its key: it must not matter.
    assert post_upload(form, EXE, filename="brief.pdf").status_code == 204

    sent = message.attachments.get()
    url = download_location(client, conversation.seller, sent)
    assert requests.get(url).content == PDF


def test_the_upload_policy_fixes_the_key_and_takes_no_other_fields(s3_attachments, conversation):
    attachment, form = start_upload(conversation)
    # Handed-out keys live under incoming/, which a bucket lifecycle rule expires.
    assert attachment.key.startswith("incoming/")

    moved = dict(form, fields=form["fields"] | {"key": "attachments/c1/chosen-by-client"})
    typed = dict(form, fields=form["fields"] | {"Content-Type": "text/html"})

    assert post_upload(moved, PDF).status_code == 403
    assert post_upload(typed, PDF).status_code == 403
    assert s3_attachments.keys() == []
    assert post_upload(form, PDF).status_code == 204
