"""Stripe's Files API in the sandbox, through the real stripe SDK: uploads to files.stripe.com
(multipart/form-data), retrieving and listing files, and each purpose's formats and sizes."""

import io
import json
from urllib.parse import urlsplit

import pytest
import stripe
from django.test import Client

from stripe_sandbox import control, testing
from stripe_sandbox.testing import SECRET_KEY
from stripe_sandbox.tests.helpers_money import as_account, assert_stripe_shape, connected_account
from stripe_sandbox.transport import SandboxHTTPClient

pytestmark = pytest.mark.django_db

MB = 1024 * 1024
# Files as their first bytes say they are; the rest is whatever a real file would carry,
# including bytes that are not text and line endings of every kind.
PDF = b"%PDF-1.7\n1 0 obj << /Type /Page >> endobj\r\n\x00\xff\xfe binary \r\r\n--x\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256))
GIF = b"GIF89a\x01\x00\x01\x00" + bytes(range(64))
TEXT = b"Order 41: delivered on 3 March, signed for by A. Buyer.\n"


@pytest.fixture
def api():
    return testing.client().v1


def named(content, name):
    """A file object as the SDK reads it: it sends `name` as the part's filename."""
    data = io.BytesIO(content)
    data.name = name
    return data


def upload(api, content=PDF, purpose="dispute_evidence", name="/tmp/evidence/order-41.pdf", **kw):
    return api.files.create(params={"purpose": purpose, "file": named(content, name)}, **kw)


def refused(call):
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        call()
    return excinfo.value


# --- Upload, retrieve, list ---------------------------------------------------------------------


def test_an_upload_is_stored_as_stripe_returns_it(api):
    made = upload(api)

    assert made.id.startswith("file_")
    assert made.object == "file"
    assert (made.purpose, made.type, made.size) == ("dispute_evidence", "pdf", len(PDF))
    assert made.filename == "order-41.pdf"  # the name to save it as, not the uploader's path
    assert made.title is None
    assert made.links.object == "list"
    assert (made.links.data, made.links.url) == ([], f"/v1/file_links?file={made.id}")
    # Dispute evidence expires nine months after it was uploaded.
    assert 270 * 86400 <= made.expires_at - made.created <= 276 * 86400
    assert made.url.endswith(f"/stripe-sandbox/v1/files/{made.id}/contents")
    assert_stripe_shape(made, "file")
    assert control.file_contents(made.id) == PDF  # byte for byte, binary and all

    fetched = api.files.retrieve(made.id)
    assert fetched.to_dict() == made.to_dict()


def test_each_format_dispute_evidence_takes(api):
    kinds = [
        upload(api, content, name=name).type for content, name in ((PNG, "a.png"), (JPEG, "b"))
    ]

    assert kinds == ["png", "jpg"]


def test_identity_documents_cannot_be_downloaded_and_never_expire(api):
    for purpose in ("identity_document", "additional_verification"):
        made = upload(api, JPEG, purpose=purpose, name="passport.jpg")

        assert (made.purpose, made.type, made.url, made.expires_at) == (purpose, "jpg", None, None)
        assert_stripe_shape(made, "file")


def test_list_is_newest_first_filtered_by_purpose_and_paginated(api):
    first = upload(api, name="one.pdf")
    identity = upload(api, PNG, purpose="identity_document", name="id.png")
    second = upload(api, JPEG, name="two.jpg")

    everything = api.files.list()
    assert everything.url == "/v1/files"
    assert [f.id for f in everything.data] == [second.id, identity.id, first.id]
    evidence = api.files.list(params={"purpose": "dispute_evidence"})
    assert [f.id for f in evidence.data] == [second.id, first.id]
    page = api.files.list(params={"purpose": "dispute_evidence", "limit": 1})
    assert ([f.id for f in page.data], page.has_more) == ([second.id], True)
    rest = api.files.list(
        params={"purpose": "dispute_evidence", "limit": 1, "starting_after": second.id}
    )
    assert ([f.id for f in rest.data], rest.has_more) == ([first.id], False)
    assert api.files.list(params={"purpose": "business_logo"}).data == []


def test_files_belong_to_the_account_that_uploaded_them(api):
    seller = connected_account()
    theirs = upload(api, options=as_account(seller))
    ours = upload(api)

    assert [f.id for f in api.files.list(options=as_account(seller)).data] == [theirs.id]
    assert [f.id for f in api.files.list().data] == [ours.id]
    missing = refused(lambda: api.files.retrieve(theirs.id))
    assert (missing.http_status, missing.code, str(missing.user_message)) == (
        404,
        "resource_missing",
        f"No such file upload: '{theirs.id}'",
    )


def test_an_upload_replays_for_its_idempotency_key(api):
    made = upload(api, options={"idempotency_key": "evidence-41"})
    again = upload(api, options={"idempotency_key": "evidence-41"})

    assert again.id == made.id
    assert len(api.files.list().data) == 1
    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        upload(api, PDF + b"\n", options={"idempotency_key": "evidence-41"})  # other bytes


# --- What an upload may be -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"purpose": "evidence"}, "purpose", "Invalid purpose: must be one of"),
        ({}, "purpose", "Missing required param: purpose."),
        ({"purpose": "tax_document_user_upload"}, "purpose", "does not take uploads"),
        (
            {"purpose": "dispute_evidence", "file_link_data": {"create": True}},
            "file_link_data",
            "does not make file links",
        ),
    ],
)
def test_a_purpose_stripe_does_not_take_is_refused(api, params, param, message):
    error = refused(lambda: api.files.create(params={"file": named(PDF, "a.pdf"), **params}))

    assert (error.http_status, error.param) == (400, param)
    assert message in error.user_message
    assert api.files.list().data == []


@pytest.mark.parametrize(
    ("content", "purpose"),
    [
        (TEXT, "dispute_evidence"),
        (GIF, "dispute_evidence"),  # a GIF is fine for a logo, not for evidence
        (PDF, "business_logo"),
        (PNG, "pci_document"),
    ],
)
def test_a_format_the_purpose_does_not_take_is_refused(api, content, purpose):
    error = refused(lambda: upload(api, content, purpose=purpose, name="file.pdf"))

    assert (error.http_status, error.error.type, error.param) == (
        400,
        "invalid_request_error",
        "file",
    )
    assert (
        f"files with purpose `{purpose}` must be one of the following types" in error.user_message
    )
    assert api.files.list().data == []


def test_gif_logos_are_taken():
    made = upload(testing.client().v1, GIF, purpose="business_logo", name="logo.gif")

    assert (made.type, made.size) == ("gif", len(GIF))


def test_dispute_evidence_is_at_most_five_megabytes(api):
    largest = PDF + b"0" * (5 * MB - len(PDF))
    assert upload(api, largest).size == 5 * MB

    error = refused(lambda: upload(api, largest + b"0"))
    assert (error.http_status, error.param) == (400, "file")
    assert "must be at most 5 MB" in error.user_message
    assert len(api.files.list().data) == 1


def test_identity_documents_may_be_sixteen_megabytes(api):
    assert upload(api, JPEG + b"0" * (16 * MB - len(JPEG)), purpose="identity_document").size == (
        16 * MB
    )
    error = refused(lambda: upload(api, PNG + b"0" * (16 * MB), purpose="identity_document"))
    assert "must be at most 16 MB" in error.user_message


def test_a_pdf_of_more_than_fifty_pages_is_not_evidence(api):
    page = b"<< /Type /Page /Parent 2 0 R >>\n"
    fifty = b"%PDF-1.4\n<< /Type /Pages /Count 50 >>\n" + page * 50

    assert upload(api, fifty).size == len(fifty)
    error = refused(lambda: upload(api, fifty + page))
    assert "fewer than 50 pages" in error.user_message
    assert upload(api, fifty + page, purpose="identity_document").type == "pdf"


def test_an_empty_file_and_a_file_sent_as_text_are_refused(api):
    empty = refused(lambda: upload(api, b""))
    assert (empty.param, empty.user_message) == ("file", "The file you uploaded is empty.")

    as_text = refused(
        lambda: api.files.create(params={"purpose": "dispute_evidence", "file": "%PDF-1.4"})
    )
    assert as_text.param == "file"
    assert "multipart/form-data" in as_text.user_message


def test_a_publishable_key_may_upload_but_not_read(api):
    browser = stripe.StripeClient(
        "pk_test_Browser", http_client=SandboxHTTPClient(), max_network_retries=0
    ).v1
    made = browser.files.create(params={"purpose": "identity_document", "file": named(PNG, "id")})

    assert made.purpose == "identity_document"
    with pytest.raises(stripe.PermissionError) as excinfo:
        browser.files.retrieve(made.id)
    assert excinfo.value.json_body["error"]["code"] == "secret_key_required"
    assert api.files.retrieve(made.id).id == made.id


# --- Over HTTP ---------------------------------------------------------------------------------


def test_curl_uploads_and_downloads_over_http(db):
    """`curl -F file=@evidence.png -F purpose=dispute_evidence` against a running sandbox: a part
    that names its type, a file larger than Django's form limit, and the download at `url`."""
    http = Client(enforce_csrf_checks=True)
    auth = {"Authorization": f"Bearer {SECRET_KEY}"}
    content = PNG + b"\x00" * (3 * MB)  # over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)
    png = named(content, "evidence.png")

    response = http.post(
        "/stripe-sandbox/v1/files", {"purpose": "dispute_evidence", "file": png}, headers=auth
    )

    assert response.status_code == 200, response.content
    made = response.json()
    assert (made["type"], made["size"], made["filename"]) == ("png", len(content), "evidence.png")
    download = http.get(urlsplit(made["url"]).path, headers=auth)
    assert download.status_code == 200
    assert download["Content-Type"] == "image/png"
    assert download.content == content
    assert http.get(f"/stripe-sandbox/v1/files/{made['id']}/contents").status_code == 401


def test_a_part_whose_type_is_not_its_format_is_refused_over_http(db):
    http = Client()
    boundary = "sandboxboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n'
            "dispute_evidence\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + PDF
        + f"\r\n--{boundary}--\r\n".encode()
    )

    response = http.post(
        "/stripe-sandbox/v1/files",
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
    )

    assert response.status_code == 400
    error = json.loads(response.content)["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", "file")
    assert "sent as image/png, but it is a PDF file" in error["message"]


def test_identity_documents_are_not_downloadable(api, db):
    made = upload(api, PNG, purpose="identity_document")

    response = Client().get(
        f"/stripe-sandbox/v1/files/{made.id}/contents",
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
    )

    assert response.status_code == 400
    assert "cannot be downloaded" in response.json()["error"]["message"]
