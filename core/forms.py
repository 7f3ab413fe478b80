"""Helpers every app's forms share."""

from django.conf import settings


def add_domain_errors(form, exc, field_map=None):
    """Show a ValidationFailed's messages next to the fields they belong to.

    `field_map` renames service fields to form fields (e.g. price_cents -> price). A message for
    a field the form does not have becomes a form-wide error rather than being lost.
    """
    field_map = field_map or {}
    for name, messages in exc.errors.items():
        target = field_map.get(name, name)
        form.add_error(target if target in form.fields else None, list(messages))


def currency_choices():
    return [(c, c.upper()) for c in settings.BAZAAR_CURRENCIES]
