"""The payouts app's models.

SellerBalance is a proxy of accounts' SellerProfile with no table of its own: it gives the
admin a read-only page of each seller's balances (payouts.admin), computed by
payouts.selectors.seller_balances like the seller's page and the API.
"""

from accounts.models import SellerProfile


class SellerBalance(SellerProfile):
    class Meta:
        proxy = True
        verbose_name = "seller balance"
        verbose_name_plural = "seller balances"
