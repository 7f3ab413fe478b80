"""Files: uploads to files.stripe.com (POST /v1/files, multipart/form-data), retrieving and
listing them, and their contents, with Stripe's API 2024-04-10 shapes and upload rules.

Each purpose takes the formats and sizes Stripe's file upload guide gives
(https://stripe.com/docs/file-upload): dispute evidence is a PDF, JPEG or PNG of at most 5 MB
(a PDF at most 50 pages) and expires after 9 months; identity documents and additional
verification are PDF, JPEG or PNG of at most 16 MB and cannot be downloaded. The format is read
from the file's first bytes, as Stripe does (the stripe SDK labels every file
application/octet-stream); a part that names a type must name the one its bytes are.

The bytes are kept in SandboxFile, the `file` object as any other sandbox object. Functions other
code may call: file_for_evidence(req, file_id, param), file_contents(file_id).
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.urls import reverse

from stripe_sandbox import core
from stripe_sandbox.errors import InvalidRequest, ResourceMissing
from stripe_sandbox.models import SandboxFile
from stripe_sandbox.params import LIST_PARAMS, AnyObj, File, Str
from stripe_sandbox.router import Raw, route

MB = 1024 * 1024
KB = 1024


@dataclass(frozen=True)
class Purpose:
    types: tuple  # Stripe's `type` values it takes, in the order its guide names them
    max_size: int  # bytes
    downloadable: bool  # the object carries a `url` to fetch it from
    expires_after_months: int | None = None
    max_pdf_pages: int | None = None


# stripe.com/docs/file-upload, "Uploading a file" (the purposes API 2024-04-10 documents).
PURPOSES = {
    "account_requirement": Purpose(("pdf", "jpg", "png"), 16 * MB, downloadable=False),
    "additional_verification": Purpose(("pdf", "jpg", "png"), 16 * MB, downloadable=False),
    "business_icon": Purpose(("jpg", "png", "gif"), 512 * KB, downloadable=True),
    "business_logo": Purpose(("jpg", "png", "gif"), 512 * KB, downloadable=True),
    "customer_signature": Purpose(("jpg", "png"), 4 * MB, downloadable=True),
    "dispute_evidence": Purpose(
        ("pdf", "jpg", "png"),
        5 * MB,
        downloadable=True,
        expires_after_months=9,
        max_pdf_pages=50,
    ),
    "identity_document": Purpose(("pdf", "jpg", "png"), 16 * MB, downloadable=False),
    "pci_document": Purpose(("pdf",), 16 * MB, downloadable=True),
}
# Purposes Stripe's upload takes that the sandbox does not (their formats, CSV, XLSX, DOCX,
# are not recognised here): refused with a message saying so.
UNSUPPORTED_PURPOSES = ("tax_document_user_upload", "terminal_reader_splashscreen")
# Every purpose a file can have (what GET /v1/files filters by), Stripe's own files included.
LISTED_PURPOSES = (
    *sorted(PURPOSES),
    *UNSUPPORTED_PURPOSES,
    "document_provider_identity_document",
    "finance_report_run",
    "identity_document_downloadable",
    "selfie",
    "sigma_scheduled_query",
)

# What each format is called in Stripe's guide, and its MIME type.
FORMAT_NAMES = {"pdf": "PDF", "jpg": "JPEG", "png": "PNG", "gif": "GIF"}
MIME_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png", "gif": "image/gif"}
# Declared types that say nothing about the format.
UNSPECIFIED_TYPES = ("", "application/octet-stream", "binary/octet-stream")

# The combined size of the files one dispute's evidence may name (Stripe refuses the update that
# goes over it).
DISPUTE_EVIDENCE_TOTAL_SIZE = 4.5 * MB

_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")


def _sniff(content):
    """The format of a file from its first bytes: 'pdf', 'jpg', 'png', 'gif' or None."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if content.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if content.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if b"%PDF-" in content[:1024]:  # readers accept a header within the first kilobyte
        return "pdf"
    return None


def _size_text(size):
    return f"{size / MB:g} MB" if size >= MB else f"{size / KB:g} KB"


def _add_months(timestamp, months):
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    for day in (moment.day, 30, 29, 28):  # the 31st of a shorter month: its last day
        try:
            return int(moment.replace(year=year, month=month, day=day).timestamp())
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _check_upload(upload, purpose_name):
    purpose = PURPOSES[purpose_name]
    kind = _sniff(upload.content)
    allowed = ", ".join(FORMAT_NAMES[t] for t in purpose.types)
    if not upload.content:
        raise InvalidRequest("The file you uploaded is empty.", param="file")
    if kind not in purpose.types:
        raise InvalidRequest(
            f"Invalid file: files with purpose `{purpose_name}` must be one of the following "
            f"types: {allowed}. The file you uploaded is not.",
            param="file",
        )
    declared = upload.content_type.lower()
    if declared not in UNSPECIFIED_TYPES and declared != MIME_TYPES[kind]:
        raise InvalidRequest(
            f"Invalid file: it was sent as {declared}, but it is a {FORMAT_NAMES[kind]} file. The "
            "MIME type of the file must correspond to its format.",
            param="file",
        )
    if len(upload.content) > purpose.max_size:
        raise InvalidRequest(
            f"The file you uploaded is too large ({_size_text(len(upload.content))}). Files with "
            f"purpose `{purpose_name}` must be at most {_size_text(purpose.max_size)}.",
            param="file",
        )
    pages = len(_PDF_PAGE.findall(upload.content)) if kind == "pdf" else 0
    if purpose.max_pdf_pages and pages > purpose.max_pdf_pages:
        raise InvalidRequest(
            "The file you uploaded was too long. Please upload a file with fewer than "
            f"{purpose.max_pdf_pages} pages.",
            param="file",
        )
    return kind


def _filename(upload, file_id):
    # The SDK sends the path it opened ("/tmp/x/evidence.pdf"): Stripe keeps a name to save as.
    name = re.split(r"[\\/]", upload.filename or "")[-1]
    return name or file_id


def _contents_url(file_id):
    return settings.SITE_URL + reverse("stripe_sandbox:api", args=[f"files/{file_id}/contents"])


@route("POST", "/v1/files", publishable=True)
def file_create(req):
    values = req.validate(
        {
            "file": File(required=True),
            "purpose": Str(required=True, choices=(*sorted(PURPOSES), *UNSUPPORTED_PURPOSES)),
            "file_link_data": AnyObj(),
        }
    )
    purpose_name = values["purpose"]
    if purpose_name in UNSUPPORTED_PURPOSES:
        raise InvalidRequest(
            f"The Stripe sandbox does not take uploads with purpose `{purpose_name}`.",
            param="purpose",
        )
    if "file_link_data" in values:
        raise InvalidRequest(
            "The Stripe sandbox does not make file links: upload without file_link_data.",
            param="file_link_data",
        )
    upload = values["file"]
    kind = _check_upload(upload, purpose_name)
    purpose = PURPOSES[purpose_name]
    file_id = core.new_id("file")
    created = core.now()
    obj = {
        "id": file_id,
        "object": "file",
        "created": created,
        "expires_at": (
            _add_months(created, purpose.expires_after_months)
            if purpose.expires_after_months
            else None
        ),
        "filename": _filename(upload, file_id),
        "links": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/file_links?file={file_id}",
        },
        "purpose": purpose_name,
        "size": len(upload.content),
        "title": None,
        "type": kind,
        "url": _contents_url(file_id) if purpose.downloadable else None,
    }
    SandboxFile.objects.create(stripe_id=file_id, content=upload.content)
    return core.save(obj, account=req.account)


def _file_get(req, file_id, param="file"):
    try:
        return core.get(file_id, kind="file", account=req.account)
    except ResourceMissing:
        raise ResourceMissing("file upload", file_id, param=param) from None


@route("GET", "/v1/files/{id}")
def file_retrieve(req, id):
    req.validate({})
    return _file_get(req, id)


@route("GET", "/v1/files/{id}/contents")
def file_contents_download(req, id):
    req.validate({})
    obj = _file_get(req, id)
    if not obj["url"]:
        raise InvalidRequest(
            f"Files with purpose `{obj['purpose']}` cannot be downloaded.", param="file"
        )
    return Raw(file_contents(id), MIME_TYPES.get(obj["type"], "application/octet-stream"))


@route("GET", "/v1/files")
def file_list(req):
    values = req.validate(LIST_PARAMS | {"purpose": Str(choices=LISTED_PURPOSES)})
    return core.list_response(
        req,
        "file",
        url="/v1/files",
        account=req.account,
        filters={"purpose": values.get("purpose")},
    )


def file_contents(file_id):
    """The bytes uploaded as `file_id`."""
    row = SandboxFile.objects.filter(stripe_id=file_id).first()
    if row is None:
        raise ResourceMissing("file upload", file_id)
    return bytes(row.content)


def file_for_evidence(req, file_id, param):
    """The file a dispute's evidence names: one of the account's own, uploaded as evidence.

    A missing file is a 400 naming the evidence field (the id is a parameter, not the URL)."""
    try:
        obj = core.get(file_id, kind="file", account=req.account)
    except ResourceMissing:
        missing = ResourceMissing("file upload", file_id, param=param)
        missing.status = 400
        raise missing from None
    if obj["purpose"] != "dispute_evidence":
        raise InvalidRequest(
            f"The file {file_id} has purpose `{obj['purpose']}`: dispute evidence must be a file "
            "uploaded with purpose `dispute_evidence`.",
            param=param,
        )
    return obj
