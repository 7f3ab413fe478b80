"""One exception handler for the API: domain errors and Django validation errors become 4xx with
field messages, never a 500."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError, ValidationFailed


def dotted_errors(errors, prefix=""):
    """A serializer's nested errors as flat field names: {"milestones": {1: {"title": [..]}}}
    -> {"milestones.1.title": [..]}; a nested serializer's non_field_errors belong to its own
    name ("milestones.1"). For input whose service names its fields that way, so a client reads
    one shape whichever check refused it."""
    flat = {}
    if isinstance(errors, dict):
        items = errors.items()
    elif isinstance(errors, list) and any(isinstance(e, dict | list) for e in errors):
        items = enumerate(errors)
    else:
        return {prefix or "non_field_errors": [str(e) for e in errors]} if errors else {}
    for key, value in items:
        if key == "non_field_errors":
            name = prefix or "non_field_errors"
        else:
            name = f"{prefix}.{key}" if prefix else str(key)
        for field, messages in dotted_errors(value, name).items():
            flat.setdefault(field, []).extend(messages)
    return flat


def exception_handler(exc, context):
    if isinstance(exc, ValidationFailed):
        return Response(exc.as_dict(), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DomainError):
        body = exc.as_dict() | {"code": exc.code}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            body = {
                field: [m for e in errs for m in e.messages]
                for field, errs in exc.error_dict.items()
            }
        else:
            body = {"detail": exc.messages}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
