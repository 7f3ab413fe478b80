"""Contact details in buyer–seller messages: email addresses, phone numbers and payment handles.

Before an order is paid, a message that tries to take the deal off Bazaar is flagged for staff
review and its sender is warned. This module only finds; the messaging service decides what to
do. It is a pure function of the text so it can run on every message.

People who want to leave the platform write around simple filters ("john at gmail dot com",
"4 1 5 5 5 5 0 1 3 2", "four one five ..."), so the rules below look for the usual evasions, and
each one also says what must *not* count: prices, dates, order numbers and ordinary English
("meet at the park") are far more common in messages than contact details, and every false alarm
costs a moderator's time and warns an innocent user.

Every pattern is built from character classes that cannot overlap with the separators around
them and from bounded repetition, so a long or hostile message cannot make a regex backtrack for
long. The `phonenumbers` library is only asked about the few digit runs that could be a number,
because scanning a whole message with it is too slow.
"""

import hashlib
import re
from dataclasses import dataclass

import phonenumbers

EMAIL = "email"
PHONE = "phone"
PAYMENT = "payment"
KIND_LABELS = {EMAIL: "an email address", PHONE: "a phone number", PAYMENT: "a payment handle"}


@dataclass(frozen=True)
class Finding:
    kind: str  # EMAIL | PHONE | PAYMENT
    text: str  # the snippet of the message that matched (as written, for staff to see)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    kind: str | None  # None: not a finding, only text where no phone number is looked for
    # An IBAN or a wallet address is full of digits; a phone number found inside it is noise.
    hides_phones: bool = False


def find_contact_details(text: str) -> list[Finding]:
    """Contact details in a message, in the order they appear; [] for ordinary text."""
    spans = [*_email_spans(text), *_phone_spans(text), *_payment_spans(text)]
    return [Finding(kind=s.kind, text=text[s.start : s.end]) for s in _merge(spans)]


def _merge(spans: list[_Span]) -> list[_Span]:
    """One finding per stretch of text and kind: overlapping matches of the same kind (an email
    seen by two patterns, "pay me on paypal: x@y.com") are joined. Different kinds stay apart, so
    an email inside a PayPal instruction is reported as both."""
    walls = [s for s in spans if s.hides_phones]
    spans = [
        s
        for s in spans
        if s.kind is not None
        and not (s.kind == PHONE and any(w.start <= s.start and s.end <= w.end for w in walls))
    ]
    merged: list[_Span] = []
    last_of_kind: dict[str, int] = {}  # kind -> index in merged
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        i = last_of_kind.get(span.kind)
        if i is not None and span.start < merged[i].end:
            merged[i] = _Span(merged[i].start, max(merged[i].end, span.end), span.kind)
        else:
            last_of_kind[span.kind] = len(merged)
            merged.append(span)
    return merged


# --- Email addresses ----------------------------------------------------------------------------

# "dot" only counts as a separator when it is set apart ("gmail dot com", "gmail(dot)com"), so a
# word like "dotted" or "anecdote" never splits a domain.
_DOT_WORD = r"(?:[ \t]{0,3}[(\[{<][ \t]{0,2}dot[ \t]{0,2}[)\]}>][ \t]{0,3}|[ \t]{1,3}dot[ \t]{1,3})"
_BRACKETED_AT = r"[ \t]{0,3}[(\[{<][ \t]{0,2}at[ \t]{0,2}[)\]}>][ \t]{0,3}"
_SEP_TIGHT = rf"(?:\.|{_DOT_WORD})"
_SEP_LOOSE = rf"(?:[ \t]{{0,3}}\.[ \t]{{0,3}}|{_DOT_WORD})"
_LABEL = r"[a-z0-9][a-z0-9-]*"
_LOCAL = rf"[a-z0-9][a-z0-9._%+-]*(?:{_DOT_WORD}[a-z0-9][a-z0-9._%+-]*){{0,3}}"
_LOCAL_START = r"(?<![\w.%+'’-])"
# Top-level domains that are not also English words may follow a spaced-out dot ("gmail . com").
# The ones that are words ("it", "me", "in") only count right after "." or "dot", so that
# "ping @john. It works" is not an address.
_TLDS = (
    "com|net|org|edu|gov|info|biz|io|co|uk|de|fr|nl|es|ca|au|ru|ch|se|dk|fi|pl|pt|br|mx|jp|cn|ie"
    "|nz|za|eu|xyz"
)
_WORD_TLDS = (
    "me|us|it|in|be|at|to|no|is|so|do|my|tv|ai|cc|id|app|dev|live|email|site|online|pro|shop"
    "|store|tech"
)
_TLD_END = rf"(?:{_SEP_LOOSE}(?:{_TLDS})|{_SEP_TIGHT}(?:{_TLDS}|{_WORD_TLDS}))(?![\w-])"
# Mail providers whose name alone gives the address away ("john at gmail"); none is an English
# word, unlike "outlook", "live" or "mail".
_PROVIDERS = "gmail|googlemail|yahoo|hotmail|protonmail|icloud|gmx|yandex|aol"
_MAIL_DOMAINS = (
    r"(?:gmail|googlemail|yahoo|hotmail|outlook|live|msn|icloud|me|mac|proton|protonmail|pm|gmx"
    r"|web|yandex|mail|aol|zoho|fastmail|tutanota|qq|163)(?:\.[a-z]{2,6}){1,2}(?![\w-])"
)
# Words that often come before an ordinary "at" ("look at", "meet me at", "visit us at").
_NOT_A_LOCAL_PART = (
    r"(?:look|looking|looked|me|us|you|him|her|them|it|out|up|here|there|site|website|work|home"
    r"|portfolio|be|is|are|am|was|were|available|live|online|found|hosted|arrive|arriving|meet"
    r"|see|stay|staying|pay|paid|buy|sell|sold|listed|price|priced)"
)

_PLAIN_EMAIL = re.compile(
    rf"{_LOCAL_START}[a-z0-9][a-z0-9._%+-]*@{_LABEL}(?:\.{_LABEL}){{0,4}}\.[a-z]{{2,24}}(?![\w-])",
    re.IGNORECASE,
)
# "john @ gmail . com", "john(at)gmail(dot)com", "john [at] gmail [dot] com": an @ sign or an
# "at" in brackets is a clear sign, so the rest may be spaced out.
_MARKED_AT_EMAIL = re.compile(
    rf"{_LOCAL_START}{_LOCAL}(?:[ \t]{{0,3}}@[ \t]{{0,3}}|{_BRACKETED_AT})"
    rf"(?:{_LABEL}(?:{_SEP_LOOSE}{_LABEL}){{0,4}}{_TLD_END}|(?:{_PROVIDERS})(?![\w-]))",
    re.IGNORECASE,
)
# A plain "at" is ordinary English, so it only counts when the rest is clearly an address:
# "john at gmail dot com" (a spelled-out "dot"), "john at gmail.com" (a known mail provider) or
# "john at gmail".
_WORD_AT_EMAIL = re.compile(
    rf"{_LOCAL_START}(?!{_NOT_A_LOCAL_PART}\s)"
    rf"{_LOCAL}[ \t]{{1,3}}at[ \t]{{1,3}}"
    rf"(?:{_LABEL}(?:{_DOT_WORD}{_LABEL}){{0,4}}{_DOT_WORD}(?:{_TLDS}|{_WORD_TLDS})(?![\w-])"
    rf"|{_MAIL_DOMAINS}|(?:{_PROVIDERS})(?![\w-]))",
    re.IGNORECASE,
)


# Cheap tests that say whether a pattern can match at all; most messages skip the costly ones.
_MARKED_AT_HINT = re.compile(rf"@|{_BRACKETED_AT}", re.IGNORECASE)
_WORD_AT_HINT = re.compile(rf"{_DOT_WORD}|{_PROVIDERS}|{_MAIL_DOMAINS}", re.IGNORECASE)


def _email_spans(text: str) -> list[_Span]:
    patterns = []
    if _MARKED_AT_HINT.search(text):
        patterns += [_PLAIN_EMAIL, _MARKED_AT_EMAIL]
    if _WORD_AT_HINT.search(text):
        patterns.append(_WORD_AT_EMAIL)
    return [_Span(m.start(), m.end(), EMAIL) for p in patterns for m in p.finditer(text)]


# --- Phone numbers ------------------------------------------------------------------------------

# Numbers written without a country code are read as local numbers of these countries (Bazaar
# prices in USD, EUR and GBP). A number with "+" or "00" in front is checked for any country.
# Most of them write a local number with a leading 0, so the lead digit says which to ask.
_TRUNK_ZERO_REGIONS = ("GB", "IE", "DE", "FR", "NL", "BE", "IT", "AU", "IN")
_NO_TRUNK_ZERO_REGIONS = ("US", "ES", "IT", "IN")
_MIN_PHONE_DIGITS = 7
# E.164 allows 15 digits, and "00" may stand for the "+".
_MAX_PHONE_DIGITS = 17

# A run of digits with up to three separators between any two ("+44 (0)20 7946-0958",
# "4 1 5 5 5 5 0 1 3 2"). It may not continue a word, a price, an order number ("#1048576"), a
# decimal or a path, and may not run into letters ("1920x1080").
_PHONE_CANDIDATE = re.compile(r"(?<![\w#$€£¥@/.,+-])[+(]{0,2}\d(?:[ \t.\-/()]{0,3}\d)*(?![\w@])")
_NOT_PHONE_BEFORE = re.compile(
    r"(?:\b(?:order|invoice|inv|ref|reference|receipt|tracking|transaction|txn|ticket|case|sku"
    r"|item|listing|isbn|serial|model|version|ver|po|iban|account|acct)\b\.?[ \t]{0,3}"
    r"(?:number|no\.?|nr\.?|num|id|#)?(?:[ \t]{1,3}is)?[ \t]{0,3}[:#]?[ \t]{0,3}"
    r"|[$€£¥][ \t]{0,3}|\b(?:usd|eur|gbp|cad|aud)[ \t]{0,3})$",
    re.IGNORECASE,
)
_NOT_PHONE_AFTER = re.compile(
    r"[ \t]{0,3}(?:[$€£¥%]|(?:usd|eur|gbp|dollars?|euros?|pounds?|bucks|px|pixels?|dpi|ppi|pages?"
    r"|words?|items?|units?|pcs|views?|followers?|mm|cm|km|kg|inch(?:es)?|x)\b)",
    re.IGNORECASE,
)
_DATE_SHAPES = re.compile(
    r"\d{4}[-./]\d{1,2}[-./]\d{1,2}"  # 2026-11-22
    r"|\d{1,2}[-./]\d{1,2}[-./](?:\d{4}|\d{2})"  # 22/11/2026, 11.22.2026
    r"|(?:19|20)\d{2}[ \t]?[-/][ \t]?(?:19|20)\d{2}"  # 2024-2026
)
_WHATSAPP_LINK = re.compile(
    r"\b(?:wa\.me/|(?:api\.)?whatsapp\.com/send/?\?phone=)\+?\d{7,15}(?!\d)", re.IGNORECASE
)
_NUMBER_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
# Digits spelled out as words, possibly mixed with digits: "four one five, five five five ...".
_SPELLED_DIGITS = re.compile(
    rf"(?<!\w)(?:{_NUMBER_WORD}|\d{{1,4}})(?!\w)"
    rf"(?:[\s,.\-/]{{1,3}}(?:{_NUMBER_WORD}|\d{{1,4}})(?!\w)){{2,30}}",
    re.IGNORECASE,
)
_SPELLED_TOKEN = re.compile(rf"{_NUMBER_WORD}|\d+", re.IGNORECASE)


def _phone_spans(text: str) -> list[_Span]:
    spans = []
    lowered = text.lower()
    if "wa.me" in lowered or "whatsapp" in lowered:
        spans += [_Span(m.start(), m.end(), PHONE) for m in _WHATSAPP_LINK.finditer(text)]
    checker = _PhoneChecker()
    for m in _PHONE_CANDIDATE.finditer(text):
        if _count_digits(m.group()) >= _MIN_PHONE_DIGITS:
            spans += [_Span(start, end, PHONE) for start, end in _phones_in_run(text, m, checker)]
    for m in _SPELLED_DIGITS.finditer(text):
        tokens = _SPELLED_TOKEN.findall(m.group())
        words = sum(1 for t in tokens if not t.isdigit())
        digits = sum(len(t) if t.isdigit() else 1 for t in tokens)
        # Seven digits make a local number; with fewer words it is ordinary counting.
        if words >= 3 and _MIN_PHONE_DIGITS <= digits <= _MAX_PHONE_DIGITS:
            spans.append(_Span(m.start(), m.end(), PHONE))
    return spans


def _count_digits(raw: str) -> int:
    return sum(c.isdigit() for c in raw)


def _phones_in_run(text: str, run: re.Match, checker: "_PhoneChecker") -> list[tuple[int, int]]:
    """The phone numbers in a run of digits, read as space-separated chunks; a chunk is never
    split ("978-3-16-148410-0" is one ISBN). Usually the whole run is the number. Part of a run
    counts when it is one compact number among others ("4155550132 4155550133"), or when what it
    leaves out is a stray count ("in 2 4155550132", "415 555 0132 2 times"); other parts would
    turn a list ("sizes 8 10 12 14 16 18", "711 489 579 499") into numbers."""
    chunks = [
        (run.start() + c.start(), run.start() + c.end(), _count_digits(c.group()))
        for c in re.finditer(r"[^ \t]+", run.group())
    ]
    if max(digits for _, _, digits in chunks) <= 2:
        # Only the whole run can count (see below): no need to walk a long "1 1 1 ..." run.
        chunks = [(chunks[0][0], chunks[-1][1], sum(digits for _, _, digits in chunks))]
    last = len(chunks) - 1

    def may_be_a_number(i: int, j: int) -> bool:
        if i == j or (i == 0 and j == last):
            return True
        stray_before = i == 0 or chunks[i - 1][2] <= 2
        stray_after = j == last or chunks[j + 1][2] <= 2
        return stray_before and stray_after and max(c[2] for c in chunks[i : j + 1]) >= 3

    found = []
    i = 0
    while i <= last:
        next_i = i + 1
        if chunks[i][2]:
            # The stretches starting at chunk i that have few enough digits, longest first.
            stretches, digits = [], 0
            for j in range(i, last + 1):
                digits += chunks[j][2]
                if digits > _MAX_PHONE_DIGITS:
                    break
                if chunks[j][2] and digits >= _MIN_PHONE_DIGITS and may_be_a_number(i, j):
                    stretches.append(j)
            for j in reversed(stretches):
                if _is_phone_at(text, chunks[i][0], chunks[j][1], checker):
                    found.append((chunks[i][0], chunks[j][1]))
                    next_i = j + 1
                    break
        i = next_i
    return found


def _is_phone_at(text: str, start: int, end: int, checker: "_PhoneChecker") -> bool:
    raw = text[start:end]
    if _DATE_SHAPES.fullmatch(raw.strip("()")) or not checker.is_phone_number(raw):
        return False
    # Context last: it is the slow part, and most digit runs are no number anyway.
    before = _NOT_PHONE_BEFORE.search(text, max(0, start - 40), start)
    return not before and not _NOT_PHONE_AFTER.match(text, end)


def _grouped_like_a_phone(raw: str) -> bool | None:
    """Whether a local number's digit groups are grouped the way people write one: True, False,
    or None when only the country's own format can tell ("612 34 56 78" in Spain, "0412 345 678"
    in Australia). Italy, Spain and India accept almost any 9 or 10 digits, so without this a
    list of sizes or scores ("35 6 20 21 20 12 6", "887 645 560") would read as a number. A number
    with a country code is left to `phonenumbers` alone."""
    if raw.lstrip("(").startswith(("+", "00")):
        return True
    groups = re.findall(r"\d+", raw)
    sizes = [len(g) for g in groups]
    if len(groups) == 1 or all(size == 1 for size in sizes):
        return True  # "4155550132", "4 1 5 5 5 5 0 1 3 2"
    if groups[0] in ("0", "1"):
        sizes = sizes[1:]  # a trunk prefix: "1 (415) 555-0132"
    if 1 in sizes:
        return False  # "35 6 20 21": a list
    if sizes[0] <= 2 and all(size == 3 for size in sizes[1:]):
        return False  # "12 500 000": an amount with spaces for thousands
    if sizes[-1] >= 4:
        return True  # most countries end a number in a block of four or more: "415 555 0132"
    if all(size == 2 for size in sizes) and raw.lstrip("(").startswith("0"):
        return True  # "06 12 34 56 78"
    if sizes == [3, 3, 3] and groups[0][0] in "67":
        return True  # a Spanish mobile as people write it: "612 345 678"
    return None


class _PhoneChecker:
    """Asks `phonenumbers` whether a digit run is a real number, within a budget per message.
    Each question costs about a millisecond, so a message stuffed with digit runs could otherwise
    take seconds. Past the budget, a run of 10 to 13 digits (the length of a full number in most
    countries) counts as a phone: a message with that many numbers deserves a look anyway."""

    budget = 30

    def __init__(self):
        self.answers: dict[str, bool] = {}

    def is_phone_number(self, raw: str) -> bool:
        if raw not in self.answers:
            if len(self.answers) < self.budget:
                self.answers[raw] = _is_phone_number(raw)
            else:
                return 10 <= _count_digits(raw) <= 13 and _grouped_like_a_phone(raw) is not False
        return self.answers[raw]


def _is_phone_number(raw: str) -> bool:
    number = raw.lstrip("(")
    if number.startswith(("+", "00")):
        if number.startswith("00"):
            number = "+" + number[2:]
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(number, None))
        except phonenumbers.NumberParseException:
            return False
    grouping = _grouped_like_a_phone(raw)
    if grouping is False:
        return False
    digits = _count_digits(raw)
    regions = _TRUNK_ZERO_REGIONS if number.startswith("0") else _NO_TRUNK_ZERO_REGIONS
    # The matcher's VALID leniency also wants the national prefix where a country writes one
    # ("030 ..." in Germany), which keeps dates and reference numbers out.
    for region in regions:
        for match in phonenumbers.PhoneNumberMatcher(raw, region, phonenumbers.Leniency.VALID):
            if _count_digits(match.raw_string) == digits and (
                grouping or _groups(raw) == _groups(_national_format(match.number))
            ):
                return True
    return False


def _groups(number: str) -> list[int]:
    return [len(group) for group in re.findall(r"\d+", number)]


def _national_format(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


# --- Payment handles ----------------------------------------------------------------------------

# The rule: naming a payment service is not enough ("Does Bazaar accept PayPal?"). A finding needs
# a handle or link for it ("paypal.me/jo", "venmo @jo", "my paypal is jo@x.com", "$JoDoe99", an
# IBAN, a wallet address) or an instruction to pay or be paid through it ("pay me on paypal",
# "send it via zelle", "zelle me"). Two kinds of sentence with such words are about paying on
# Bazaar and are left alone: one that names Bazaar or its checkout ("I'll pay with Apple Pay at
# checkout"), and a question that involves no person ("Can I pay with PayPal?", unlike "Can I
# pay you via PayPal?").

# Services where people have an account handle.
_HANDLE_SERVICES = r"(?:pay ?pal|venmo|zelle|cash ?app|revolut|transfer ?wise|wise|skrill|payoneer)"
_SERVICES = (
    rf"(?:{_HANDLE_SERVICES}|western {{1,3}}union|money ?gram|apple ?pay|google ?pay"
    r"|bank transfer|wire transfer|bitcoin|btc|crypto|usdt|tether|ethereum|eth)"
)
_PAY_INSTRUCTION = re.compile(
    r"\b(?:pay|paying|paid|send|sending|sent|transfer|transferring|wire|wiring|tip)\b"
    r"(?: {1,3}[\w'’$@%-]+){0,5}?"
    # "to" and "into" only with an owner ("send it to my paypal"): "pay attention to crypto".
    r" {1,3}(?:(?:via|on|through|thru|by|with|over|using|in|per|w/)(?: {1,3}(?:my|your|a|the))?"
    r"|(?:to|into) {1,3}(?:my|your|his|her|our))"
    rf" {{1,3}}{_SERVICES}(?!\w)",
    re.IGNORECASE,
)
_SERVICE_HINT = re.compile(rf"\b(?:{_SERVICES}|cash\.app|revolut\.me|monzo\.me)", re.IGNORECASE)
_SERVICE_AS_VERB = re.compile(
    r"(?<![\w.-])(?:pay ?pal|venmo|zelle|cash ?app|revolut) {1,3}(?:me|us|him|her|it|them)\b",
    re.IGNORECASE,
)
_PAYING_HERE = re.compile(
    r"\b(?:bazaar|checkout|check-out|check out|the (?:site|platform|website)"
    r"|this (?:site|platform|website))\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?\n]")
_BETWEEN_PEOPLE = re.compile(r"\b(?:me|you|us|him|her|them|my|your)\b", re.IGNORECASE)

_HANDLE_LABEL = (
    r"(?:[ \t]{1,3}(?:account|acct|id|email|e-mail|username|user|handle|tag|name|number|no\.?"
    r"|address|details|info))?"
)
_EMAILISH = r"[a-z0-9][\w.+-]*@[a-z0-9][\w-]*(?:\.[a-z0-9][\w-]*){0,4}"
_AT_OR_CASHTAG = r"(?:@[a-z0-9][\w.-]*|\$[a-z][\w]*)"
# "paypal: jo@x.com", "my venmo is @jo", "zelle -> 415 555 0132", "revolut: jo_doe". A plain word
# after a colon is not enough ("I prefer PayPal: it's safer"); the handle must look like one.
_HANDLE_AFTER_SERVICE = re.compile(
    rf"(?<![\w-]){_HANDLE_SERVICES}{_HANDLE_LABEL}"
    r"(?:"
    r"(?:[ \t]{0,3}[:=][ \t]{0,3}|[ \t]{0,3}-+>?[ \t]{0,3}|[ \t]{1,3}is[ \t]{1,3})"
    rf"(?:{_EMAILISH}|{_AT_OR_CASHTAG}|\+?\d[\d \t().-]{{5,20}}\d|[a-z][\w.-]*[\d_][\w.-]*)"
    rf"|[ \t]{{0,3}}(?:{_EMAILISH}|{_AT_OR_CASHTAG})"
    r")",
    re.IGNORECASE,
)
# "@jo_doe on venmo", "jo@x.com on paypal".
_HANDLE_BEFORE_SERVICE = re.compile(
    rf"(?<![\w@$])(?:{_EMAILISH}|{_AT_OR_CASHTAG})[ \t]{{1,3}}(?:on|at|via|in|for)[ \t]{{1,3}}"
    rf"{_HANDLE_SERVICES}(?!\w)",
    re.IGNORECASE,
)
_PAYMENT_LINK = re.compile(
    r"\b(?:paypal\.me|paypal\.com/paypalme|venmo\.com|cash\.app|revolut\.me|wise\.com/pay"
    r"|monzo\.me)/[\w.$@%+/=&?-]*[\w$]",
    re.IGNORECASE,
)
# A Cash App $cashtag starts with a letter, which tells it apart from a price ("$50", "$1,250");
# currency prefixes ("$USD 50") are not cashtags.
_CASHTAG = re.compile(
    r"(?<![\w$])\$(?!(?:usd|cad|aud|nzd|hkd|sgd|mxn|us|au|ca|nz|hk|sg)\b)[a-z][a-z0-9_]{1,19}(?!\w)",
    re.IGNORECASE,
)
# Printed IBANs come in groups of four ("DE89 3704 0044 0532 0130 00") or in one piece.
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?")
# Lengths from the SWIFT IBAN registry; a country code not listed here is not an IBAN.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
_ETH_ADDRESS = re.compile(r"(?<!\w)0x[0-9a-f]{40}(?!\w)", re.IGNORECASE)
# Bech32 (bc1...) uses an alphabet without 1, b, i and o after the prefix.
_BTC_BECH32 = re.compile(r"(?<!\w)bc1[ac-hj-np-z02-9]{25,87}(?!\w)", re.IGNORECASE)
# Base58 addresses (Bitcoin 1... and 3..., Tron T...) look like any long token, so they only
# count when their built-in checksum is right.
_BASE58_ADDRESS = re.compile(r"(?<!\w)[13T][1-9A-HJ-NP-Za-km-z]{25,34}(?!\w)")
_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_VERSIONS = {0x00, 0x05, 0x41}  # Bitcoin P2PKH, Bitcoin P2SH, Tron


def _payment_spans(text: str) -> list[_Span]:
    spans = []
    if _SERVICE_HINT.search(text):
        spans += [
            _Span(m.start(), m.end(), PAYMENT)
            for pattern in (
                _SERVICE_AS_VERB,
                _HANDLE_AFTER_SERVICE,
                _HANDLE_BEFORE_SERVICE,
                _PAYMENT_LINK,
            )
            for m in pattern.finditer(text)
        ]
        spans += [
            _Span(m.start(), m.end(), PAYMENT)
            for m in _PAY_INSTRUCTION.finditer(text)
            if _asks_to_pay_outside(text, m)
        ]
    if "$" in text:
        spans += [_Span(m.start(), m.end(), PAYMENT) for m in _CASHTAG.finditer(text)]
    for m in _IBAN.finditer(text):
        end, checksum_ok = _iban_end(m.group())
        if end:
            # A mistyped IBAN is no finding, but its digits are no phone number either.
            kind = PAYMENT if checksum_ok else None
            spans.append(_Span(m.start(), m.start() + end, kind, hides_phones=True))
    lowered = text.lower()
    for hint, pattern in (("0x", _ETH_ADDRESS), ("bc1", _BTC_BECH32)):
        if hint in lowered:
            spans += [
                _Span(m.start(), m.end(), PAYMENT, hides_phones=True)
                for m in pattern.finditer(text)
            ]
    spans += [
        _Span(m.start(), m.end(), PAYMENT, hides_phones=True)
        for m in _BASE58_ADDRESS.finditer(text)
        if _is_base58check_address(m.group())
    ]
    return spans


def _asks_to_pay_outside(text: str, match: re.Match) -> bool:
    start = max(text.rfind(mark, 0, match.start()) for mark in ".!?\n") + 1
    after = _SENTENCE_END.search(text, match.end())
    end = after.start() if after else len(text)
    if _PAYING_HERE.search(text, start, end):
        return False
    # "Can I pay with PayPal?" asks how paying works; "Can I pay you via PayPal?" offers a deal.
    is_question = end < len(text) and text[end] == "?"
    return not is_question or bool(_BETWEEN_PEOPLE.search(match.group()))


def _iban_end(candidate: str) -> tuple[int | None, bool]:
    """Where the IBAN in `candidate` ends (None if it is none), and whether its check digits are
    right. The pattern may have swallowed a following group of four ("... 0130 00 SENT"), so the
    country's length decides where it stops."""
    length = _IBAN_LENGTHS.get(candidate[:2])
    if length is None:
        return None, False
    seen = 0
    for i, char in enumerate(candidate):
        if char != " ":
            seen += 1
        if seen == length:
            end = i + 1
            if end < len(candidate) and candidate[end] != " ":
                return None, False  # the length ends inside a group: not a printed IBAN
            break
    else:
        return None, False
    compact = candidate[:end].replace(" ", "")
    rearranged = compact[4:] + compact[:4]
    return end, int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _is_base58check_address(candidate: str) -> bool:
    number = 0
    for char in candidate:
        number = number * 58 + _BASE58_ALPHABET.index(char)
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    raw = b"\0" * (len(candidate) - len(candidate.lstrip("1"))) + raw
    if len(raw) != 25 or raw[0] not in _BASE58_VERSIONS:
        return False
    checksum = hashlib.sha256(hashlib.sha256(raw[:21]).digest()).digest()[:4]
    return checksum == raw[21:]
