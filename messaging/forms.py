"""Forms of the messaging pages. They parse input; the services decide what may be sent."""

from django import forms
from django.conf import settings
from django.utils.html import escape

from messaging.files import allowed_types_text, human_size
from messaging.services import MAX_BODY_CHARS


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of files from one input; cleans to a list (empty when none was chosen).

    Size, type and count are the service's to judge (it reads the content), so an empty file
    is let through here and refused there with a message that names it.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("allow_empty_file", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        single_clean = super().clean
        if isinstance(data, (list, tuple)):
            return [single_clean(item, initial) for item in data if item]
        return [single_clean(data, initial)] if data else []


def attachment_limits_text():
    """The rules for attachments, shown next to the file input."""
    return (
        f"Up to {settings.MESSAGING_ATTACHMENT_MAX_FILES} files, "
        f"{human_size(settings.MESSAGING_ATTACHMENT_MAX_BYTES)} each: {allowed_types_text()}."
    )


class MessageForm(forms.Form):
    """A message as typed: text, files, or both (the service refuses neither)."""

    body = forms.CharField(
        label="Message",
        required=False,
        strip=False,  # the service trims; a refused message comes back exactly as typed
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": MAX_BODY_CHARS}),
    )
    files = MultipleFileField(label="Attach files")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read at request time, as the limits are settings
        # (escaped: templates/includes/field.html renders help text as HTML).
        self.fields["files"].help_text = escape(attachment_limits_text())


class StoreMessageForm(forms.Form):
    """A buyer's message to a store, from its Contact page."""

    body = forms.CharField(
        label="Message",
        strip=False,  # the service trims; a refused message comes back exactly as typed
        widget=forms.Textarea(attrs={"rows": 5, "maxlength": MAX_BODY_CHARS}),
    )
