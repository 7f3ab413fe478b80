"""The one way a payment's, a release's or a dispute's status changes, as orders' and listings'
do: the caller holds the row lock, the move is checked against PAYMENT_TRANSITIONS,
RELEASE_TRANSITIONS or DISPUTE_TRANSITIONS (escrow.models), and core.audit writes the audit
entry with the before and after. A row already in the target status is a quiet (row, False),
so a repeated webhook or a retried job is harmless.
"""

from core.audit import audit_record, audited_transition
from escrow.models import (
    DISPUTE_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    RELEASE_TRANSITIONS,
    DisputeStatus,
    PaymentStatus,
    ReleaseStatus,
)

PAYMENT_ACTIONS = {
    PaymentStatus.SUCCEEDED: "escrow.payment.succeeded",
    PaymentStatus.DUPLICATE: "escrow.payment.duplicated",
    PaymentStatus.FAILED: "escrow.payment.failed",
    PaymentStatus.CANCELLED: "escrow.payment.cancelled",
}
RELEASE_ACTIONS = {
    ReleaseStatus.TRANSFERRED: "escrow.release.transferred",
    ReleaseStatus.FAILED: "escrow.release.failed",
}

DISPUTE_ACTIONS = {
    DisputeStatus.ANSWERED: "escrow.dispute.answered",
    DisputeStatus.RESOLVED: "escrow.dispute.resolved",
    DisputeStatus.WITHDRAWN: "escrow.dispute.withdrawn",
}


def payment_move(*, payment, to, actor=None, **changes):
    """Move a locked EscrowPayment to `to`. Returns (payment, moved)."""
    return audited_transition(
        payment,
        to=to,
        allowed=PAYMENT_TRANSITIONS,
        actor=actor,
        action=PAYMENT_ACTIONS[to],
        **changes,
    )


def release_move(*, release, to, actor=None, save_also=None, **changes):
    """Move a locked EscrowRelease to `to`. Returns (release, moved). `save_also`: as
    core.audit.audited_transition's (the whole row is saved without it)."""
    return audited_transition(
        release,
        to=to,
        allowed=RELEASE_TRANSITIONS,
        actor=actor,
        action=RELEASE_ACTIONS[to],
        save_also=save_also,
        **changes,
    )


def dispute_move(*, dispute, to, actor=None, **changes):
    """Move a locked Dispute to `to`. Returns (dispute, moved)."""
    return audited_transition(
        dispute,
        to=to,
        allowed=DISPUTE_TRANSITIONS,
        actor=actor,
        action=DISPUTE_ACTIONS[to],
        **changes,
    )


def failure_reason_record(*, row, message, action, actor=None, **codes):
    """A locked payment or release that was failed already failed again. The same reason is a
    repeat (quiet, returns False); another reason is kept, and audited, as the newest. `codes`
    are the payment's failure_code and failure_decline_code, which change with the reason."""
    after = {"failure_message": message, **codes}
    if all(getattr(row, field) == value for field, value in after.items()):
        return False
    before = {"status": row.status} | {field: getattr(row, field) for field in after}
    for field, value in after.items():
        setattr(row, field, value)
    row.save(update_fields=list(after))
    audit_record(
        action=action,
        actor=actor,
        target=row,
        before=before,
        after={"status": row.status, **after},
    )
    return True
