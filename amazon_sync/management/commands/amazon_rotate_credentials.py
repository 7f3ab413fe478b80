"""Re-encrypt sellers' Amazon refresh tokens with the first of AMAZON_CREDENTIALS_KEYS."""

from django.core.management.base import BaseCommand

from amazon_sync.services import amazon_credentials_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored Amazon refresh token with the newest key "
        "(the first of AMAZON_CREDENTIALS_KEYS); then the old keys may be removed."
    )

    def handle(self, *args, **options):
        count = amazon_credentials_rotate()
        self.stdout.write(f"{count} Amazon credential{'s' if count != 1 else ''} re-encrypted.")
