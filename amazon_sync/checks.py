"""`manage.py check` (and every start) tells a bad AMAZON_CREDENTIALS_KEYS at once, rather than
on the first seller who connects Amazon."""

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from amazon_sync import crypto


@checks.register(checks.Tags.security)
def credentials_keys_are_fernet_keys(app_configs, **kwargs):
    try:
        crypto.check_keys()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="amazon_sync.E001")]
    return []
