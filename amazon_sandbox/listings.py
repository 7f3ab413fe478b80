"""The Listings Items API 2021-08-01: put, patch, get and delete one SKU, with the validation
Amazon does against a product type's requirements (the issues it answers INVALID with)."""

import copy
import uuid
from datetime import UTC
from decimal import Decimal, InvalidOperation

from amazon_sandbox.http import ApiFailure, invalid_input, json_answer, not_found
from amazon_sandbox.models import SandboxListing

# What each product type the sandbox knows requires for a listing with an offer (Amazon's
# product type definitions are far longer; these are the attributes sellers miss in practice).
OFFER_ATTRIBUTES = [
    "item_name",
    "brand",
    "condition_type",
    "purchasable_offer",
    "fulfillment_availability",
]
REQUIRED_ATTRIBUTES = {
    "PRODUCT": OFFER_ATTRIBUTES,
    "HOME": [*OFFER_ATTRIBUTES, "material"],
    "KITCHEN": [*OFFER_ATTRIBUTES, "material"],
    "JEWELRY": [*OFFER_ATTRIBUTES, "metal_type"],
    "ART_AND_CRAFT_SUPPLY": OFFER_ATTRIBUTES,
    "TOY_FIGURE": [*OFFER_ATTRIBUTES, "manufacturer"],
}
CONDITIONS = {"new_new", "used_like_new", "used_very_good", "used_good", "used_acceptable"}
MARKETPLACE_CURRENCY = {
    "ATVPDKIKX0DER": "USD",
    "A2EUQ1WTGCTBG2": "CAD",
    "A1AM78C64UM0Y8": "MXN",
    "A1F83G8C2ARO7P": "GBP",
    "A1PA6795UKMFR9": "EUR",
    "A13V1IB3VIYZZH": "EUR",
    "APJ6JRA9NG5V4": "EUR",
    "A1RKKUPIHCS9HS": "EUR",
    "A1VC38T7YXB528": "JPY",
}


def issue(code, message, attribute_names=(), *, category="INVALID_ATTRIBUTE", severity="ERROR"):
    return {
        "code": code,
        "message": message,
        "severity": severity,
        "attributeNames": list(attribute_names),
        "categories": [category],
    }


def validate(product_type, attributes, marketplace_id) -> list[dict]:
    """Amazon's issues with a listing's attributes; empty when it would be accepted."""
    if product_type not in REQUIRED_ATTRIBUTES:
        return [
            issue(
                "4000001",
                f"The product type '{product_type}' is not valid for this marketplace.",
                category="INVALID_PRODUCT_TYPE",
            )
        ]
    if not isinstance(attributes, dict):
        return [issue("4000002", "'attributes' must be an object.")]
    problems = [
        issue(
            "90220", f"'{name}' is required but not supplied.", [name], category="MISSING_ATTRIBUTE"
        )
        for name in REQUIRED_ATTRIBUTES[product_type]
        if not attributes.get(name)
    ]
    for name, value in attributes.items():
        if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
            problems.append(
                issue("90244", f"The value of '{name}' must be an array of objects.", [name])
            )
    if problems:
        return problems
    condition = attributes["condition_type"][0].get("value")
    if condition not in CONDITIONS:
        problems.append(
            issue(
                "90244",
                f"'{condition}' is not a valid value for 'condition_type'.",
                ["condition_type"],
            )
        )
    problems += _offer_problems(attributes["purchasable_offer"], marketplace_id)
    quantity = attributes["fulfillment_availability"][0].get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        problems.append(
            issue(
                "90244",
                "'quantity' of 'fulfillment_availability' must be a whole number of at least 0.",
                ["fulfillment_availability"],
            )
        )
    return problems


def _offer_problems(offers, marketplace_id):
    offer = offers[0]
    currency = MARKETPLACE_CURRENCY.get(marketplace_id)
    if currency and offer.get("currency") != currency:
        return [
            issue(
                "90244",
                f"'currency' of 'purchasable_offer' must be {currency} in this marketplace.",
                ["purchasable_offer"],
            )
        ]
    price = offer_price(offers)
    if price is None or price <= 0 or price.as_tuple().exponent < -2:
        return [
            issue(
                "90244",
                "'value_with_tax' of 'our_price' in 'purchasable_offer' must be a number above 0 "
                "with at most 2 decimal places.",
                ["purchasable_offer"],
            )
        ]
    return []


def offer_price(offers) -> Decimal | None:
    """The offer's price as the exact decimal the JSON number spelled (None if it is not one)."""
    try:
        value = offers[0]["our_price"][0]["schedule"][0]["value_with_tax"]
    except (LookupError, TypeError):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _submission(sku, status, issues=()):
    return json_answer(
        200,
        {"sku": sku, "status": status, "submissionId": uuid.uuid4().hex, "issues": list(issues)},
    )


def _marketplace(query) -> str:
    ids = [i for value in query.get("marketplaceIds", []) for i in value.split(",") if i]
    if not ids:
        raise invalid_input("Missing required 'marketplaceIds' parameter.")
    return ids[0]


def _listing(seller_id, marketplace_id, sku, *, lock=False):
    rows = SandboxListing.objects.filter(
        seller_id=seller_id, marketplace_id=marketplace_id, sku=sku
    )
    listing = (rows.select_for_update() if lock else rows).first()
    if listing is None:
        raise not_found(f"SKU '{sku}' not found in marketplace {marketplace_id}")
    return listing


def put(seller_id, sku, query, body):
    marketplace_id = _marketplace(query)
    if not isinstance(body, dict) or not body.get("productType"):
        raise invalid_input("Request body is missing required property 'productType'.")
    problems = validate(body["productType"], body.get("attributes"), marketplace_id)
    if problems:
        return _submission(sku, "INVALID", problems)
    if query.get("mode") == ["VALIDATION_PREVIEW"]:
        return _submission(sku, "VALID")
    store(seller_id, marketplace_id, sku, body["productType"], body["attributes"])
    return _submission(sku, "ACCEPTED")


def store(seller_id, marketplace_id, sku, product_type, attributes):
    """Accepted: the listing now has these attributes. A live listing keeps its ASIN; a rejected
    one is submitted again and goes back to processing."""
    listing = (
        SandboxListing.objects.select_for_update()
        .filter(seller_id=seller_id, marketplace_id=marketplace_id, sku=sku)
        .first()
    )
    if listing is None:
        listing = SandboxListing(seller_id=seller_id, marketplace_id=marketplace_id, sku=sku)
    listing.product_type = product_type
    listing.attributes = attributes
    if listing.state == SandboxListing.State.REJECTED:
        listing.state = SandboxListing.State.LIVE if listing.asin else SandboxListing.State.PENDING
        listing.issues = []
    listing.save()
    return listing


def apply_patches(attributes, patches):
    """JSON Patch on /attributes/<name> (add, replace, merge, delete), as the Listings API takes
    it; raises ValueError with Amazon's words for a patch it cannot apply."""
    result = copy.deepcopy(attributes)
    if not isinstance(patches, list) or not patches:
        raise ValueError("'patches' must be a non-empty array.")
    for patch in patches:
        op, path = patch.get("op"), patch.get("path", "")
        if not path.startswith("/attributes/") or path.count("/") != 2:
            raise ValueError(f"Patch path '{path}' is invalid: use /attributes/<attribute name>.")
        name = path.removeprefix("/attributes/")
        if op in {"add", "replace", "merge"}:
            if "value" not in patch:
                raise ValueError(f"Patch '{op}' of '{name}' has no 'value'.")
            result[name] = patch["value"]
        elif op == "delete":
            result.pop(name, None)
        else:
            raise ValueError(f"Patch operation '{op}' is not supported.")
    return result


def patch(seller_id, sku, query, body):
    marketplace_id = _marketplace(query)
    if not isinstance(body, dict) or not body.get("productType"):
        raise invalid_input("Request body is missing required property 'productType'.")
    listing = _listing(seller_id, marketplace_id, sku, lock=True)
    try:
        attributes = apply_patches(listing.attributes, body.get("patches"))
    except ValueError as exc:
        return _submission(sku, "INVALID", [issue("4000003", str(exc))])
    problems = validate(body["productType"], attributes, marketplace_id)
    if problems:
        return _submission(sku, "INVALID", problems)
    if query.get("mode") == ["VALIDATION_PREVIEW"]:
        return _submission(sku, "VALID")
    store(seller_id, marketplace_id, sku, body["productType"], attributes)
    return _submission(sku, "ACCEPTED")


def delete(seller_id, sku, query):
    marketplace_id = _marketplace(query)
    _listing(seller_id, marketplace_id, sku, lock=True).delete()
    return _submission(sku, "ACCEPTED")


def statuses(listing) -> list[str]:
    if listing.state != SandboxListing.State.LIVE:
        return []
    quantity = _quantity(listing.attributes)
    return ["BUYABLE", "DISCOVERABLE"] if quantity else ["DISCOVERABLE"]


def _quantity(attributes):
    for entry in attributes.get("fulfillment_availability") or []:
        if entry.get("fulfillment_channel_code", "DEFAULT") == "DEFAULT":
            return entry.get("quantity")
    return None


def _iso(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def get(seller_id, sku, query):
    marketplace_id = _marketplace(query)
    listing = _listing(seller_id, marketplace_id, sku)
    included = {
        name for value in query.get("includedData", ["summaries"]) for name in value.split(",")
    }
    answer = {"sku": listing.sku}
    attributes = listing.attributes
    if "summaries" in included:
        summary = {
            "marketplaceId": marketplace_id,
            "productType": listing.product_type,
            "conditionType": (attributes.get("condition_type") or [{}])[0].get("value"),
            "status": statuses(listing),
            "itemName": (attributes.get("item_name") or [{}])[0].get("value"),
            "createdDate": _iso(listing.created),
            "lastUpdatedDate": _iso(listing.updated),
        }
        if listing.asin:
            summary["asin"] = listing.asin
        answer["summaries"] = [summary]
    if "attributes" in included:
        answer["attributes"] = attributes
    if "issues" in included:
        answer["issues"] = listing.issues
    if "offers" in included:
        price = offer_price(attributes.get("purchasable_offer") or [])
        answer["offers"] = (
            [
                {
                    "marketplaceId": marketplace_id,
                    "offerType": "B2C",
                    "price": {
                        "currencyCode": attributes["purchasable_offer"][0].get("currency"),
                        "amount": f"{price:.2f}",
                    },
                }
            ]
            if price is not None
            else []
        )
    if "fulfillmentAvailability" in included:
        quantity = _quantity(attributes)
        answer["fulfillmentAvailability"] = (
            [{"fulfillmentChannelCode": "DEFAULT", "quantity": quantity}]
            if quantity is not None
            else []
        )
    return json_answer(200, answer)


def check_seller(path_seller_id, token_seller_id):
    if path_seller_id != token_seller_id:
        raise ApiFailure(403, "Unauthorized", "Access to requested resource is denied.")
