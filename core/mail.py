"""Email on a development machine: each message saved as an .eml file (open it in any mail
program) in EMAIL_FILE_PATH, with one log line saying where, instead of whole HTML emails
scrolling through the console of `make run`. Set EMAIL_URL to send real email."""

import logging
import re
import time
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger(__name__)


class FolderEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        folder = Path(settings.EMAIL_FILE_PATH)
        folder.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            # The wall clock, not core.clock: only the file's name, in the order sent. The "T"
            # keeps the digits from reading as a card number to the log redaction (date-time-ns
            # made 15+ digits joined by dashes, and one in ten passed the Luhn check).
            stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}"
            slug = re.sub(r"[^a-z0-9]+", "-", message.subject.lower()).strip("-")[:60]
            path = folder / f"{stamp}-{slug or 'email'}.eml"
            path.write_bytes(message.message().as_bytes())
            logger.info(
                "Email to %s: %r saved to %s",
                ", ".join(message.recipients()),
                message.subject,
                path,
            )
            sent += 1
        return sent
