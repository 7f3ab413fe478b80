"""A moto S3 server that also refuses what real S3 refuses and moto lets through.

moto 5.2.5 in server mode keeps private objects private, but it serves presigned URLs after they
expire and ignores a presigned POST's policy (its expiration and its content-length-range).
Bazaar relies on S3 doing both: a download link stops working after
MESSAGING_ATTACHMENT_URL_EXPIRY, and a direct upload cannot exceed the size cap. This shim puts
those checks in front of moto, answering with S3's own status codes and error XML, so the tests
see what a client of real S3 would.

It is a test fidelity shim (a "strict mode"), not an S3: everything it lets through reaches moto
byte for byte. Its clock can be moved forward, so tests check expiry without sleeping.
"""

import base64
import io
import json
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.formparser import parse_form_data
from werkzeug.serving import make_server

AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"  # SigV4's X-Amz-Date
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _iso(timestamp):
    return datetime.fromtimestamp(timestamp, UTC).strftime(ISO_FORMAT)


def _s3_error(start_response, status, code, message, **details):
    """An error answered the way S3 words it: <Error><Code>…</Code><Message>…</Message>…"""
    parts = [f"<Code>{code}</Code>", f"<Message>{escape(message)}</Message>"]
    parts += [f"<{name}>{escape(str(value))}</{name}>" for name, value in details.items()]
    parts.append(f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId>")
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{"".join(parts)}</Error>'.encode()
    start_response(
        status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    )
    return [body]


class StrictS3Middleware:
    """WSGI middleware in front of moto: refuses expired presigned URLs and POST policies."""

    def __init__(self, app, clock):
        self.app = app
        self.clock = clock

    def __call__(self, environ, start_response):
        now = self.clock()
        query = {k.lower(): v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        refusal = self._expired_query_signature(query, now)
        if refusal:
            return _s3_error(start_response, "403 Forbidden", "AccessDenied", **refusal)

        content_type = environ.get("CONTENT_TYPE", "")
        if environ["REQUEST_METHOD"] == "POST" and content_type.startswith("multipart/form-data"):
            body = self._buffer_body(environ)
            refusal = self._policy_refusal(environ, body, now)
            if refusal:
                status, code, message, details = refusal
                return _s3_error(start_response, status, code, message, **details)
        return self.app(environ, start_response)

    @staticmethod
    def _expired_query_signature(query, now):
        # SigV4: X-Amz-Date (signing time) + X-Amz-Expires (seconds). SigV2: Expires (epoch).
        if "x-amz-date" in query and "x-amz-expires" in query:
            signed = datetime.strptime(query["x-amz-date"], AMZ_DATE_FORMAT).replace(tzinfo=UTC)
            expires_at = signed.timestamp() + int(query["x-amz-expires"])
            extra = {"X-Amz-Expires": query["x-amz-expires"]}
        elif "expires" in query and ("signature" in query or "awsaccesskeyid" in query):
            expires_at = int(query["expires"])
            extra = {}
        else:
            return None
        if now <= expires_at:
            return None
        return {
            "message": "Request has expired",
            **extra,
            "Expires": _iso(expires_at),
            "ServerTime": _iso(now),
        }

    @staticmethod
    def _buffer_body(environ):
        # Read the whole body once; moto then gets an identical copy to parse for itself.
        length = environ.get("CONTENT_LENGTH")
        stream = environ["wsgi.input"]
        body = stream.read(int(length)) if length else stream.read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return body

    @staticmethod
    def _policy_refusal(environ, body, now):
        """(status, code, message, details) when the POST's policy refuses it, else None."""
        copy = dict(environ, **{"wsgi.input": io.BytesIO(body)})
        _, form, files = parse_form_data(copy)
        fields = {name.lower(): value for name, value in form.items()}
        if "policy" not in fields:
            return None  # not a browser-based upload: nothing for the shim to enforce
        policy = json.loads(base64.b64decode(fields["policy"]))

        expiration = datetime.fromisoformat(policy["expiration"]).timestamp()
        if now > expiration:
            return (
                "403 Forbidden",
                "AccessDenied",
                "Invalid according to Policy: Policy expired.",
                {},
            )

        conditions = policy.get("conditions", [])
        refusal = StrictS3Middleware._field_refusal(fields, conditions)
        if refusal:
            return ("403 Forbidden", "AccessDenied", f"Invalid according to Policy: {refusal}", {})

        upload = files.get("file")
        size = len(upload.read()) if upload is not None else 0
        for condition in conditions:
            if isinstance(condition, list) and condition[0].lower() == "content-length-range":
                low, high = int(condition[1]), int(condition[2])
                if size > high:
                    return (
                        "400 Bad Request",
                        "EntityTooLarge",
                        "Your proposed upload exceeds the maximum allowed size",
                        {"ProposedSize": size, "MaxSizeAllowed": high},
                    )
                if size < low:
                    return (
                        "400 Bad Request",
                        "EntityTooSmall",
                        "Your proposed upload is smaller than the minimum allowed size",
                        {"ProposedSize": size, "MinSizeAllowed": low},
                    )
        return None

    @staticmethod
    def _field_refusal(fields, conditions):
        """S3's rules for a POST's form fields: each exact-match condition must hold, and no
        field may be sent that the policy does not name (except the signature's own)."""
        exact = {}
        named = set()
        for condition in conditions:
            if isinstance(condition, dict):
                exact.update({k.lower(): v for k, v in condition.items()})
            elif isinstance(condition, list) and condition[0].lower() in ("eq", "starts-with"):
                named.add(condition[1].lstrip("$").lower())
        for name, expected in exact.items():
            if name != "bucket" and fields.get(name) != expected:
                return f'Policy Condition failed: ["eq", "${name}", "{expected}"]'
        signature = {"policy", "x-amz-signature", "awsaccesskeyid", "signature", "file"}
        allowed = named | set(exact) | signature
        extra = [n for n in fields if n not in allowed and not n.startswith("x-ignore-")]
        if extra:
            return f"Extra input fields: {extra[0]}"
        return None


class StrictS3Server(ThreadedMotoServer):
    """moto's threaded server on 127.0.0.1 (a free port), behind StrictS3Middleware.

    `advance(seconds)` moves the clock the middleware judges expiry by; `reset_clock()` undoes it.
    """

    def __init__(self):
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self._offset = 0.0

    def now(self):
        return time.time() + self._offset

    def advance(self, seconds):
        self._offset += seconds

    def reset_clock(self):
        self._offset = 0.0

    @property
    def endpoint(self):
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def _server_entry(self):
        # ThreadedMotoServer._server_entry with the app wrapped in the middleware.
        app = StrictS3Middleware(DomainDispatcherApplication(create_backend_app), self.now)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()
