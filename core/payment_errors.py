"""What a buyer is told when a card payment fails: the one table from Stripe's error and decline
codes to plain words (docs.stripe.com/declines/codes, docs.stripe.com/error-codes).

Stripe's own `message` is written for developers ("The provided PaymentMethod has failed
authentication. You can provide payment_method_data…"): staff keep it (the payment's
failure_message, shown in admin), buyers read buyer_payment_message(code, decline_code) on the
pages, in the API and in notifications. Some reasons (a lost or stolen card, suspected fraud)
are deliberately told as a plain decline, as Stripe advises.
"""

TRY_ANOTHER = "Try again with another card."
DECLINED = "Your card was declined. " + TRY_ANOTHER + " Your bank can tell you why."
# Said when Stripe gave no code this table knows (or none at all, as for old rows).
FALLBACK = "Your payment did not go through. Try again, or use another card."

_AUTHENTICATION_FAILED = (
    "Your bank could not confirm the payment: the card's security check (3-D Secure) failed or "
    "was cancelled. Try again and complete your bank's check, or use another card."
)
_AUTHENTICATION_REQUIRED = (
    "Your bank needs you to confirm this payment. Try again and complete your bank's check."
)
_EXPIRED = "Your card has expired. " + TRY_ANOTHER
_INSUFFICIENT_FUNDS = "Your card has insufficient funds. " + TRY_ANOTHER
_CVC = "The card's security code (CVC) is incorrect. Check it and try again."
_NUMBER = "The card number is incorrect. Check it and try again."
_EXPIRY = "The card's expiry date is incorrect. Check it and try again."
_LIMIT = "Your card has reached its spending limit. " + TRY_ANOTHER
_PROCESSING = "Your card could not be processed just now. Try again in a moment."
_NOT_SUPPORTED = "Your card does not support this kind of payment. " + TRY_ANOTHER
_CURRENCY = "Your card cannot pay in this currency. " + TRY_ANOTHER
_PIN = "The card's PIN was entered wrongly too many times. " + TRY_ANOTHER

# Stripe's decline_code (a card_declined error's reason) or error code -> what the buyer reads.
BUYER_MESSAGES = {
    # Error codes
    "payment_intent_authentication_failure": _AUTHENTICATION_FAILED,
    "authentication_required": _AUTHENTICATION_REQUIRED,
    "card_declined": DECLINED,
    "expired_card": _EXPIRED,
    "incorrect_cvc": _CVC,
    "invalid_cvc": _CVC,
    "incorrect_number": _NUMBER,
    "invalid_number": _NUMBER,
    "invalid_expiry_month": _EXPIRY,
    "invalid_expiry_year": _EXPIRY,
    "processing_error": _PROCESSING,
    "payment_intent_payment_attempt_failed": FALLBACK,
    # Decline codes
    "insufficient_funds": _INSUFFICIENT_FUNDS,
    "card_velocity_exceeded": _LIMIT,
    "withdrawal_count_limit_exceeded": _LIMIT,
    "card_not_supported": _NOT_SUPPORTED,
    "transaction_not_allowed": _NOT_SUPPORTED,
    "currency_not_supported": _CURRENCY,
    "incorrect_pin": _PIN,
    "pin_try_exceeded": _PIN,
    "try_again_later": _PROCESSING,
    "issuer_not_available": _PROCESSING,
    "reenter_transaction": _PROCESSING,
    # Not to be told as they are (Stripe: "present as a generic decline").
    "fraudulent": DECLINED,
    "lost_card": DECLINED,
    "stolen_card": DECLINED,
    "pickup_card": DECLINED,
    "restricted_card": DECLINED,
    "merchant_blacklist": DECLINED,
    "security_violation": DECLINED,
    "generic_decline": DECLINED,
    "do_not_honor": DECLINED,
    "call_issuer": DECLINED,
}


def buyer_payment_message(code: str | None, decline_code: str | None = None) -> str:
    """Plain words for a failed payment: the decline code's, else the error code's, else a
    neutral fallback. Never Stripe's developer text."""
    for key in (decline_code, code):
        if key and key in BUYER_MESSAGES:
            return BUYER_MESSAGES[key]
    return FALLBACK
