"""The private storage that holds message attachments: `storages["attachments"]`.

Two backends with one interface, chosen in settings:

- `PrivateS3Storage` (production): a private bucket, no ACLs. Downloads are presigned GET URLs
  that expire; mobile clients upload straight to S3 with a presigned POST whose policy caps the
  size. S3 itself refuses an expired URL.
- `PrivateFileStorage` (local default): files under a folder outside MEDIA_ROOT, so no public
  URL ever reaches them. Downloads and direct uploads go through views of ours that accept only
  URLs signed with SECRET_KEY and refuse them once expired: the same contract as S3's.

Either way a URL is minted only after the caller has checked who is asking
(`messaging.services.attachment_download_url`).
"""

import time

from django.conf import settings
from django.core import signing
from django.core.files.storage import FileSystemStorage, storages
from django.urls import reverse
from django.utils.http import content_disposition_header
from storages.backends.s3 import S3Storage

DOWNLOAD_SALT = "messaging.attachment.download"
UPLOAD_SALT = "messaging.attachment.upload"


def attachment_storage():
    return storages["attachments"]


def _now():
    # Wall-clock seconds, as S3 counts expiry; tests move it to check that URLs expire.
    return time.time()


class PrivateS3Storage(S3Storage):
    """A private bucket: every object is read through a short-lived presigned URL."""

    default_acl = None
    querystring_auth = True
    # Never a custom (CDN) domain: its URLs would not be signed by S3.
    custom_domain = None
    # boto presigns with SigV2 in older regions unless told; S3 buckets made since 2020 refuse it.
    signature_version = "s3v4"
    file_overwrite = False

    def download_url(self, key, *, filename, content_type, expire):
        parameters = {
            # S3 answers with these headers, so the browser downloads rather than renders.
            "ResponseContentDisposition": content_disposition_header(True, filename),
            "ResponseContentType": content_type,
        }
        return self.url(key, parameters=parameters, expire=expire)

    def upload_form(self, key, *, max_bytes, expire):
        """A presigned POST for one object of at most `max_bytes`: {"url", "fields"}."""
        return self.connection.meta.client.generate_presigned_post(
            Bucket=self.bucket_name,
            Key=self._normalize_name(key),
            Conditions=[["content-length-range", 1, max_bytes]],
            ExpiresIn=expire,
        )

    def read_head(self, key, length):
        obj = self.bucket.Object(self._normalize_name(key))
        return obj.get(Range=f"bytes=0-{length - 1}")["Body"].read()

    def copy(self, source, target):
        """Copy an object inside the bucket (server side); returns the target key."""
        self.connection.meta.client.copy_object(
            Bucket=self.bucket_name,
            Key=self._normalize_name(target),
            CopySource={"Bucket": self.bucket_name, "Key": self._normalize_name(source)},
        )
        return target


class PrivateFileStorage(FileSystemStorage):
    """Local files with no public URL; our views serve them from signed, expiring links."""

    def __init__(self, location=None, **kwargs):
        location = location or settings.MESSAGING_ATTACHMENTS_ROOT
        super().__init__(location=location, base_url=None, **kwargs)

    def url(self, name):
        raise ValueError("Attachments have no public URL; mint a signed one with download_url().")

    def download_url(self, key, *, filename, content_type, expire):
        token = signing.dumps(
            {"k": key, "n": filename, "t": content_type, "x": int(_now()) + expire},
            salt=DOWNLOAD_SALT,
            compress=True,
        )
        return settings.SITE_URL + reverse("messaging:file", kwargs={"token": token})

    def upload_form(self, key, *, max_bytes, expire):
        token = signing.dumps(
            {"k": key, "m": max_bytes, "x": int(_now()) + expire}, salt=UPLOAD_SALT, compress=True
        )
        url = settings.SITE_URL + reverse("messaging:direct-upload", kwargs={"token": token})
        return {"url": url, "fields": {}}

    def read_head(self, key, length):
        with self.open(key, "rb") as handle:
            return handle.read(length)

    def copy(self, source, target):
        with self.open(source, "rb") as handle:
            return self.save(target, handle)


class LinkExpired(Exception):
    pass


def read_signed(token, *, salt):
    """The payload of a link minted above; raises BadSignature if forged, LinkExpired if old."""
    payload = signing.loads(token, salt=salt)
    if payload["x"] < _now():
        raise LinkExpired
    return payload
