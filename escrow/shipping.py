"""Carriers a seller ships products with, and where a buyer follows a parcel: the one table.

`tracking_url(carrier, number)` gives the carrier's tracking page for a parcel, or "" for a
carrier without one here (Other). The number is URL-quoted into the template.
"""

import re
from urllib.parse import quote

from django.db import models


class Carrier(models.TextChoices):
    USPS = "usps", "USPS"
    UPS = "ups", "UPS"
    FEDEX = "fedex", "FedEx"
    DHL = "dhl", "DHL"
    ROYAL_MAIL = "royal_mail", "Royal Mail"
    DEUTSCHE_POST = "deutsche_post", "Deutsche Post / DHL Paket"
    LA_POSTE = "la_poste", "La Poste / Colissimo"
    CANADA_POST = "canada_post", "Canada Post"
    AUSTRALIA_POST = "australia_post", "Australia Post"
    OTHER = "other", "Other"


TRACKING_URLS = {
    Carrier.USPS: "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    Carrier.UPS: "https://www.ups.com/track?tracknum={number}",
    Carrier.FEDEX: "https://www.fedex.com/fedextrack/?trknbr={number}",
    Carrier.DHL: "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
    Carrier.ROYAL_MAIL: "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
    Carrier.DEUTSCHE_POST: "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html"
    "?piececode={number}",
    Carrier.LA_POSTE: "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
    Carrier.CANADA_POST: "https://www.canadapost-postescanada.ca/track-reperage/en#/details/"
    "{number}",
    Carrier.AUSTRALIA_POST: "https://auspost.com.au/mypost/track/details/{number}",
}

TRACKING_NUMBER_MAX_LENGTH = 40
# Letters and digits, with the spaces and hyphens people copy from a label between them.
TRACKING_NUMBER_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9 -]*[A-Za-z0-9])?$")


def tracking_number_problem(number):
    """Why a tracking number as typed cannot be used, or "" when it can."""
    number = (number or "").strip()
    if not number:
        return "Enter the tracking number from the parcel's label."
    if len(number) > TRACKING_NUMBER_MAX_LENGTH:
        return f"At most {TRACKING_NUMBER_MAX_LENGTH} characters."
    if not TRACKING_NUMBER_PATTERN.match(number):
        return "Use letters and digits (spaces and hyphens between them are fine)."
    return ""


def tracking_url(carrier, number):
    template = TRACKING_URLS.get(carrier)
    if not template or not number:
        return ""
    return template.format(number=quote(number.replace(" ", ""), safe=""))
