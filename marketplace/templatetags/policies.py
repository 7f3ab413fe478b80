"""Cancellation policies in templates, for pages that hold a policy's value rather than a listing
(an order keeps the policy its buyer agreed to):

`{{ order.cancellation_policy|policy_label }}`: "moderate" -> "Moderate".
`{{ order.cancellation_policy|policy_text:order.listing_kind }}`: the policy in plain words.

An unknown or empty value renders as nothing rather than breaking the page.
"""

from django import template

from marketplace.policies import CancellationPolicy, describe

register = template.Library()


@register.filter
def policy_label(policy):
    try:
        return CancellationPolicy(policy).label
    except ValueError:
        return ""


@register.filter
def policy_text(policy, kind):
    try:
        return describe(policy, kind)
    except ValueError:
        return ""
