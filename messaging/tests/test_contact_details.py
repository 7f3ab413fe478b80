"""The detector of contact details in messages: what it must flag, what it must leave alone."""

import pytest

from messaging.contact_details import (
    EMAIL,
    KIND_LABELS,
    PAYMENT,
    PHONE,
    Finding,
    find_contact_details,
)


def kinds(text):
    return {finding.kind for finding in find_contact_details(text)}


MUST_FLAG = [
    # Email addresses, plain and written around a filter.
    ("john.doe+x@gmail.com", EMAIL),
    ("JOHN@GMAIL.COM", EMAIL),
    ("write to john at gmail dot com", EMAIL),
    ("john(at)gmail(dot)com", EMAIL),
    ("john [at] gmail [dot] com", EMAIL),
    ("john @ gmail . com", EMAIL),
    ("john AT gmail DOT com", EMAIL),
    ("john at gmail.com", EMAIL),
    ("reach me: john at gmail", EMAIL),
    ("john dot doe at gmail dot com", EMAIL),
    ("jane_doe {at} proton {dot} me", EMAIL),
    ("contact: john at yahoo.co.uk", EMAIL),
    ("jane.smith at mail dot co dot uk", EMAIL),
    # Phone numbers, international and local, and spelled or spaced out.
    ("+1 415 555 0132", PHONE),
    ("(415) 555-0132", PHONE),
    ("415-555-0132", PHONE),
    ("415.555.0132", PHONE),
    ("call me on 4155550132 in the morning", PHONE),
    ("+44 20 7946 0958", PHONE),
    ("+44 (0)20 7946 0958", PHONE),
    ("0044 20 7946 0958", PHONE),
    ("07946 095812", PHONE),
    ("+49 30 901820", PHONE),
    ("0612345678", PHONE),
    ("+33 6 12 34 56 78", PHONE),
    ("whatsapp: +31 6 12345678", PHONE),
    ("4 1 5 5 5 5 0 1 3 2", PHONE),
    ("0 7 9 4 6 0 9 5 8 1 2", PHONE),
    ("móvil 612 34 56 78", PHONE),
    ("mobile 0412 345 678", PHONE),
    ("WhatsApp me on 98765 43210", PHONE),
    ("wa.me/14155550132", PHONE),
    ("https://api.whatsapp.com/send?phone=447946095812", PHONE),
    ("four one five five five five zero one three two", PHONE),
    ("FOUR one five, 555, 0132", PHONE),
    # Payment handles and instructions to pay outside Bazaar.
    ("paypal.me/johndoe", PAYMENT),
    ("https://www.paypal.me/JohnDoe/50", PAYMENT),
    ("paypal: name@example.com", PAYMENT),
    ("pay me on paypal", PAYMENT),
    ("send it via paypal", PAYMENT),
    ("send it to my paypal", PAYMENT),
    ("Can you pay me via Revolut?", PAYMENT),
    ("venmo @john_doe", PAYMENT),
    ("my venmo is @jdoe", PAYMENT),
    ("@john_doe on venmo", PAYMENT),
    ("venmo.com/john-doe", PAYMENT),
    ("$JohnDoe99", PAYMENT),
    ("my cashapp is $JaneDoe", PAYMENT),
    ("cash.app/$johndoe", PAYMENT),
    ("can you zelle me the rest", PAYMENT),
    ("revolut.me/johnd", PAYMENT),
    ("wise.com/pay/me/johnd", PAYMENT),
    ("I will send the money through Wise", PAYMENT),
    ("send it by western union", PAYMENT),
    ("pay me in bitcoin", PAYMENT),
    ("DE89 3704 0044 0532 0130 00", PAYMENT),
    ("IBAN: GB82 WEST 1234 5698 7654 32 thanks", PAYMENT),
    ("GB82WEST12345698765432", PAYMENT),
    ("bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh", PAYMENT),
    ("0x52908400098527886E0F7030069857D2E4169EE7", PAYMENT),
    ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", PAYMENT),
]


@pytest.mark.parametrize(("text", "kind"), MUST_FLAG)
def test_flags_contact_details(text, kind):
    assert kind in kinds(text)


MUST_NOT_FLAG = [
    # Ordinary English around "at" and "dot".
    "Meet at the park at 5.",
    "look at it. done",
    "I'm at home dot dot dot",
    "I will be at work all day",
    "Let me know at your earliest convenience.",
    "ping @john. It works",
    # Prices.
    "$1,250.00",
    "€ 49.99",
    "1 250 EUR",
    "USD 3000",
    "$50 or $1,250",
    "the total is $USD 50",
    "I have 1,500,000 followers",
    # Dates and times.
    "2026-11-22",
    "22/11/2026",
    "11.22.2026",
    "10:30",
    "Nov 22 2026",
    "worked in design 2010-2025",
    "delivery on 03.04.2025",
    "01.12.2026",
    # Order and reference numbers.
    "order #123456",
    "Order 1234567",
    "#1048576",
    "ref 20261122-0042",
    "Invoice no. 20261122-0042 is attached",
    "tracking 1Z999AA10123456784",
    "ISBN 978-3-16-148410-0",
    # ... even when the digits would make a valid phone number.
    "Order 4155550132",
    "Invoice no. 0612345678",
    "the video has 2125550100 views",
    # Quantities, sizes, years, postal codes, versions.
    "1920x1080",
    "300 dpi",
    "3 pages",
    "12 x 18 in",
    "Sizes 8 10 12 14 16 18 20 are in stock",
    "sizes 35 6 20 21 20 12 6",
    "scores 20 31 11 4 6 39",
    "quantities 711 489 579 499 949",
    "a budget of 12 500 000",
    "Since 2019",
    "75001",
    "v2.10.3",
    "I will send you one two three drafts",
    # A mistyped IBAN is not read as a phone number.
    "DE89 3704 0044 0532 0130 01",
    # Payment services named without a handle or an instruction to pay there.
    "Does Bazaar accept PayPal?",
    "Can I pay with PayPal?",
    "Can I pay with PayPal on Bazaar?",
    "Do you accept Venmo?",
    "PayPal is great.",
    "I prefer PayPal: it's safer",
    "Apple Pay is supported at checkout.",
    "I'll pay with Apple Pay at checkout.",
    "I sent it through PayPal on Bazaar.",
    "Use the coupon at checkout, I'll send it through Bazaar.",
    "Otherwise, send the files via Dropbox.",
    "Price-wise: $50 per page, time-wise 3 days.",
    "Pay attention to crypto trends",
    "the tx is 0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060",
]


@pytest.mark.parametrize("text", MUST_NOT_FLAG)
def test_leaves_ordinary_text_alone(text):
    assert find_contact_details(text) == []


def test_mixed_message_reports_each_detail_as_written_in_order():
    text = (
        "Thanks! Email me at jane.doe@example.com or call +44 20 7946 0958, and pay me on paypal."
    )

    assert find_contact_details(text) == [
        Finding(kind=EMAIL, text="jane.doe@example.com"),
        Finding(kind=PHONE, text="+44 20 7946 0958"),
        Finding(kind=PAYMENT, text="pay me on paypal"),
    ]


def test_email_in_a_paypal_handle_is_both_and_the_order_details_are_neither():
    text = "My PayPal is jane@example.com; order #1048576 ships Nov 22 2026 for $1,250.00."

    assert find_contact_details(text) == [
        Finding(kind=PAYMENT, text="PayPal is jane@example.com"),
        Finding(kind=EMAIL, text="jane@example.com"),
    ]


def test_evasions_keep_the_snippet_as_the_sender_wrote_it():
    text = "mail john (at) gmail (dot) com or ring four one five five five five zero one three two"

    assert find_contact_details(text) == [
        Finding(kind=EMAIL, text="john (at) gmail (dot) com"),
        Finding(kind=PHONE, text="four one five five five five zero one three two"),
    ]


def test_an_address_seen_by_two_rules_is_reported_once():
    assert find_contact_details("john@gmail.com") == [Finding(kind=EMAIL, text="john@gmail.com")]


def test_the_same_address_written_twice_is_reported_twice():
    findings = find_contact_details("jane@example.com, again: jane@example.com")

    assert findings == [Finding(kind=EMAIL, text="jane@example.com")] * 2


def test_an_iban_is_one_payment_finding_not_also_a_phone_number():
    assert find_contact_details("DE89 3704 0044 0532 0130 00 SENT") == [
        Finding(kind=PAYMENT, text="DE89 3704 0044 0532 0130 00")
    ]


def test_a_phone_number_next_to_a_stray_count_is_cut_to_the_number():
    assert find_contact_details("call 415 555 0132 2 times") == [
        Finding(kind=PHONE, text="415 555 0132")
    ]


def test_two_numbers_in_a_row_are_two_findings():
    assert find_contact_details("4155550132 4155550133") == [
        Finding(kind=PHONE, text="4155550132"),
        Finding(kind=PHONE, text="4155550133"),
    ]


def test_a_phone_number_as_a_zelle_handle_is_both():
    assert find_contact_details("zelle -> 415 555 0132") == [
        Finding(kind=PAYMENT, text="zelle -> 415 555 0132"),
        Finding(kind=PHONE, text="415 555 0132"),
    ]


def test_every_kind_has_a_label_for_the_warning():
    assert set(KIND_LABELS) == {EMAIL, PHONE, PAYMENT}


def test_a_long_ordinary_message_is_not_flagged():
    paragraph = (
        "Hi! Thanks for order #1048576. I'll deliver 3 logo concepts at 1920x1080 and 300 dpi "
        "by Nov 22 2026, 10:30. The price is $1,250.00 (or € 49.99 per extra revision), see "
        "v2.10.3 of the brief. Look at it. Meet at the park. Does Bazaar accept PayPal? "
    )
    text = paragraph * (10_000 // len(paragraph) + 1)

    assert len(text) > 10_000
    assert find_contact_details(text) == []


@pytest.mark.parametrize(
    "text",
    [
        " " * 10_000,
        "1 " * 5_000,
        "1234567 " * 1_300,
        "a at " * 2_000,
        "a dot " * 2_000,
        "a @ b . " * 1_300,
        "(at)" * 2_500,
        "x" * 10_000,
    ],
    ids=["spaces", "digits", "digit-runs", "ats", "dots", "spaced-ats", "brackets", "one-word"],
)
def test_hostile_filler_finishes_without_findings(text):
    assert find_contact_details(text) == []
