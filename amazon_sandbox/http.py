"""What every sandbox answer is made of: Amazon's JSON bodies and error shapes."""

import json
import uuid
from dataclasses import dataclass, field


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)


def json_answer(status, data, headers=None) -> Answer:
    return Answer(
        status,
        json.dumps(data).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


def sp_error(status, code, message, details="") -> Answer:
    """SP-API's error body: {"errors": [{"code", "message", "details"}]}."""
    return json_answer(status, {"errors": [{"code": code, "message": message, "details": details}]})


def request_id() -> str:
    return str(uuid.uuid4())


class ApiFailure(Exception):
    """Raised inside a handler to answer with an SP-API error (nothing it wrote is kept)."""

    def __init__(self, status, code, message, details=""):
        super().__init__(message)
        self.answer = sp_error(status, code, message, details)


def invalid_input(message, details="") -> ApiFailure:
    return ApiFailure(400, "InvalidInput", message, details)


def not_found(message) -> ApiFailure:
    return ApiFailure(404, "NOT_FOUND", message)
