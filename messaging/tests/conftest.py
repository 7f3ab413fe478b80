import uuid
from dataclasses import dataclass

import boto3
import pytest

from messaging.tests.s3server import StrictS3Server

S3_REGION = "us-east-1"
S3_KEY = "testing"


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server (strict about expiry and upload policies) for the whole session."""
    server = StrictS3Server()
    server.start()
    yield server
    server.stop()


@dataclass
class S3Attachments:
    client: object  # a boto3 S3 client on the moto server
    bucket: str
    endpoint: str
    server: StrictS3Server
    prefix: str = "attachments/"

    def keys(self):
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix)
        return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture
def s3_attachments(s3_server, settings, monkeypatch):
    """storages["attachments"] is PrivateS3Storage on a fresh private bucket of its own.

    Yields an S3Attachments (boto3 client, bucket, endpoint, server for `advance`). The bucket
    and everything in it is deleted afterwards, and the server's clock set back.
    """
    for name, value in {
        "AWS_ACCESS_KEY_ID": S3_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_KEY,
        "AWS_DEFAULT_REGION": S3_REGION,
        # Never read a developer's own AWS config or talk to the server through a proxy.
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "NO_PROXY": "127.0.0.1,localhost",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)

    s3_server.reset_clock()
    endpoint = s3_server.endpoint
    bucket = f"bazaar-test-{uuid.uuid4().hex}"  # 44 characters, lowercase
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
        region_name=S3_REGION,
    )
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "messaging.storage.PrivateS3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": endpoint,
                "access_key": S3_KEY,
                "secret_key": S3_KEY,
                "region_name": S3_REGION,
                "location": "attachments",
                "querystring_expire": settings.MESSAGING_ATTACHMENT_URL_EXPIRY,
                # Virtual-host style would need DNS for <bucket>.127.0.0.1.
                "addressing_style": "path",
            },
        },
    }
    yield S3Attachments(client=client, bucket=bucket, endpoint=endpoint, server=s3_server)

    s3_server.reset_clock()
    listed = client.list_objects_v2(Bucket=bucket)
    for item in listed.get("Contents", []):
        client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)
