"""Every event in the registry has its email templates and renders with its own context."""

import re

import pytest
from django.template.loader import render_to_string

from notifications.events import EVENTS

PLACEHOLDER = re.compile(r"\{(\w+)\}")


@pytest.mark.parametrize("code", sorted(EVENTS))
def test_each_event_has_subject_text_and_html_templates(code):
    event = EVENTS[code]
    names = set(PLACEHOLDER.findall(str(event.title))) | set(
        PLACEHOLDER.findall(str(event.message))
    )
    context = {name: f"<{name}>" for name in names} | {
        "site_url": "http://example.com",
        "unsubscribe_url": "http://example.com/u",
        "preferences_url": "http://example.com/p",
        "action_url_absolute": "http://example.com/a",
    }

    for part in ("subject.txt", "body.txt", "body.html"):
        rendered = render_to_string(f"notifications/email/{code}/{part}", context)
        assert rendered.strip(), f"{code}/{part} renders empty"
    assert "http://example.com/u" in render_to_string(
        f"notifications/email/{code}/body.txt", context
    )


@pytest.mark.parametrize("code", sorted(EVENTS))
def test_each_event_is_well_formed(code):
    event = EVENTS[code]

    assert event.code == code
    assert event.level in {"info", "success", "warning", "error"}
    assert event.default_email in event.email_modes


def test_plain_text_parts_are_not_html_escaped():
    context = {"listing_title": "Cups & Saucers <large>", "unsubscribe_url": "u"}

    subject = render_to_string("notifications/email/listing.approved/subject.txt", context)
    body = render_to_string("notifications/email/listing.approved/body.txt", context)
    html = render_to_string("notifications/email/listing.approved/body.html", context)

    assert "Cups & Saucers <large>" in subject
    assert "Cups & Saucers <large>" in body
    assert "Cups &amp; Saucers &lt;large&gt;" in html
