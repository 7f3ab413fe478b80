"""How django-allauth's account app sends Bazaar's confirmation links.

allauth keeps the addresses (EmailAddress) and makes the signed confirmation keys
(EmailConfirmationHMAC); Bazaar keeps its own pages. This adapter points the link at Bazaar's
confirm page under SITE_URL (the email may be sent without a request: sign-up by the API, the
demo seed), renders Bazaar's templates and sends through Django's mail setup (EMAIL_BACKEND:
core.mail's folder in development). The services in accounts/services.py are the only callers.
"""

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse


class BazaarAccountAdapter(DefaultAccountAdapter):
    def get_email_confirmation_url(self, request, emailconfirmation):
        return settings.SITE_URL + reverse("email-confirm", args=[emailconfirmation.key])

    def send_mail(self, template_prefix, email, context):
        context = {"email": email, "site_url": settings.SITE_URL, **context}
        subject = render_to_string(f"{template_prefix}_subject.txt", context)
        subject = " ".join(subject.splitlines()).strip()
        text = render_to_string(f"{template_prefix}_message.txt", context).strip()
        html = render_to_string(f"{template_prefix}_message.html", context)
        message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [email])
        message.attach_alternative(html, "text/html")
        message.send()

    def send_notification_mail(self, template_prefix, user, context=None, email=None):
        # Of allauth's notices Bazaar sends one: to the old address, once a new one replaced it
        # (so someone who took over the account cannot move it away unseen). Its other notices
        # concern flows Bazaar does not use (its own password pages send their own emails).
        if template_prefix != "account/email/email_changed" or not email:
            return
        self.send_mail(template_prefix, email, {"user": user, **(context or {})})

    def add_message(self, *args, **kwargs):
        # Bazaar's confirm page says what happened in its own words.
        return None

    def is_open_for_signup(self, request):
        # Accounts are made by Bazaar's own sign-up (accounts.services.user_signup), never by
        # allauth's views, which are not mounted.
        return False
