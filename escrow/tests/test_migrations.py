"""The data migrations of escrow's rows, run on rows as main's code stored them.

The tests run without migrations (pytest --no-migrations), so each data migration's functions
are called directly with the app registry, on rows written with the old values.
"""

from importlib import import_module

import pytest
from django.apps import apps
from django.utils import timezone

from escrow.factories import EscrowPaymentFactory
from escrow.models import EscrowPayment, PaymentStatus

pytestmark = pytest.mark.django_db


def migration(name):
    return import_module(f"escrow.migrations.{name}")


def statuses():
    return dict(EscrowPayment.objects.values_list("pk", "status"))


def test_second_payments_stored_as_canceled_become_duplicates_and_back():
    duplicates = migration("0003_payment_status_duplicate")
    paid = EscrowPaymentFactory()
    second = EscrowPaymentFactory(
        order=paid.order,
        status="canceled",
        succeeded_at=timezone.now(),
        failure_message=duplicates.SECOND_PAYMENT_NOTE,
    )
    abandoned = EscrowPaymentFactory(status="canceled", succeeded_at=None, stripe_charge_id="")

    duplicates.mark_duplicates(apps, None)

    assert statuses() == {paid.pk: "succeeded", second.pk: "duplicate", abandoned.pk: "canceled"}
    assert EscrowPayment.objects.get(pk=second.pk).failure_message == ""

    duplicates.unmark_duplicates(apps, None)

    assert statuses() == {paid.pk: "succeeded", second.pk: "canceled", abandoned.pk: "canceled"}
    restored = EscrowPayment.objects.get(pk=second.pk)
    assert restored.failure_message == duplicates.SECOND_PAYMENT_NOTE


def test_abandoned_payments_are_spelled_cancelled_and_back():
    spelling = migration("0004_payment_status_cancelled_spelling")
    abandoned = EscrowPaymentFactory(status="canceled", succeeded_at=None, stripe_charge_id="")
    paid = EscrowPaymentFactory()

    spelling.to_cancelled(apps, None)

    assert statuses() == {abandoned.pk: PaymentStatus.CANCELLED, paid.pk: "succeeded"}
    assert EscrowPayment.objects.get(pk=abandoned.pk).get_status_display() == "Cancelled"

    spelling.to_canceled(apps, None)

    assert statuses() == {abandoned.pk: "canceled", paid.pk: "succeeded"}
