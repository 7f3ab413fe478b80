from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from accounts import signals
from accounts.countries import COUNTRY_CHOICES
from core.timezones import default_time_zone, validate_time_zone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """Anyone who signs in: buyers and sellers alike; a seller also has a SellerProfile."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    # Emails and notifications are written in this language.
    language = models.CharField(
        max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    # Times (bookings, deadlines) are shown to the person in this IANA zone; a seller's new
    # availability starts in it.
    time_zone = models.CharField(
        max_length=64, default=default_time_zone, validators=[validate_time_zone]
    )
    is_staff = models.BooleanField(default=False, help_text="Can sign in to the admin.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # When the person last had Bazaar open (the bell polls while a tab is visible), to the
    # minute: someone online sees new messages in the page and is not emailed about them.
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # When `email` was confirmed by its link (allauth.account's EmailAddress holds the addresses
    # and their links; accounts.email_verification keeps this in step). Empty: not confirmed yet,
    # so the person cannot sell or pay. Kept here so those checks and the banner cost no query.
    email_verified_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        # set_password() keeps the new raw password until the save; Django's form, admin and
        # management command all go through it, so this is the one place that sees every change.
        password_changed = self._password is not None and not self._state.adding
        super().save(*args, **kwargs)
        if password_changed:
            signals.password_changed.send(sender=type(self), user=self)

    def get_full_name(self):
        return self.full_name or self.email

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email.split("@")[0]

    @property
    def email_verified(self):
        """May sell and pay: staff always, others once their email address is confirmed."""
        return self.is_staff or self.email_verified_at is not None

    @property
    def is_seller(self):
        return hasattr(self, "seller_profile")


# A commission is at most everything: 10,000 basis points = 100%.
COMMISSION_BPS_MAX = 10_000


class SellerProfile(models.Model):
    """What makes a user a seller: public identity and commercial terms."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="seller_profile"
    )
    display_name = models.CharField(max_length=100)
    bio = models.TextField(blank=True)
    country = models.CharField(
        max_length=2,
        choices=COUNTRY_CHOICES,
        help_text="ISO 3166-1 alpha-2, one of the countries where Stripe opens Express accounts.",
    )
    default_currency = models.CharField(max_length=3, help_text="ISO 4217, lower case, e.g. usd.")
    # Null means the platform default (settings.BAZAAR_COMMISSION_BPS).
    commission_bps = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(COMMISSION_BPS_MAX)],
        help_text="Commission override in basis points (1000 = 10%). Empty: platform default.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.display_name

    @property
    def effective_commission_bps(self):
        if self.commission_bps is None:
            return settings.BAZAAR_COMMISSION_BPS
        return self.commission_bps


class ConnectedAccount(models.Model):
    """A seller's Stripe Connect Express account: where their money goes.

    A mirror of Stripe's account object (Stripe is the source of truth). accounts.connect keeps
    it current from `account.updated` webhooks, always from a fresh retrieval and never from an
    older snapshot than the one stored (`stripe_updated_at`).
    """

    seller_profile = models.OneToOneField(
        SellerProfile, on_delete=models.CASCADE, related_name="connected_account"
    )
    stripe_account_id = models.CharField(max_length=255, unique=True)
    # Buyers can pay this seller (Stripe accepts charges for the account).
    charges_enabled = models.BooleanField(default=False)
    # Stripe can pay out the seller's balance to their bank account.
    payouts_enabled = models.BooleanField(default=False)
    # The seller finished Stripe's onboarding form at least once.
    details_submitted = models.BooleanField(default=False)
    requirements_currently_due = models.JSONField(default=list, blank=True)
    requirements_past_due = models.JSONField(default=list, blank=True)
    requirements_eventually_due = models.JSONField(default=list, blank=True)
    # Why Stripe disabled the account (e.g. "requirements.past_due"); blank when it is not.
    disabled_reason = models.CharField(max_length=100, blank=True)
    # When what is currently due must be given, or charges stop.
    current_deadline = models.DateTimeField(null=True, blank=True)
    capabilities = models.JSONField(default=dict, blank=True)
    business_profile = models.JSONField(default=dict, blank=True)
    # When the mirrored Stripe state was read; an older read never overwrites a newer one.
    stripe_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.stripe_account_id} ({self.seller_profile})"


class ShippingAddress(models.Model):
    """An address a buyer saved to have products sent to. An order keeps its own copy of the
    address it was placed with (escrow's Order.shipping_*), so editing or deleting this one
    never changes an order already placed."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shipping_addresses"
    )
    name = models.CharField(max_length=100)
    line1 = models.CharField(max_length=200)
    line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    postal_code = models.CharField(max_length=20, blank=True)
    region = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2, e.g. US.")
    # At most one per user (the constraint): chosen first at checkout.
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(is_default=True),
                name="shipping_address_one_default_per_user",
            )
        ]

    def __str__(self):
        return ", ".join(part for part in (self.name, self.line1, self.city, self.country) if part)

    def as_fields(self):
        """The address as order_create and the forms take it."""
        return {field: getattr(self, field) for field in ADDRESS_FIELDS}


ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postal_code", "region", "country")
