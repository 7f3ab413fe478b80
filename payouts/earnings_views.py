"""The seller's earnings page (/seller/earnings/) and its CSV export (/seller/earnings/export.csv).

Thin: the form parses the range, payouts.earnings reads the figures and writes the CSV; this
module lays the chart out (an inline SVG drawn on the server: no script, no CDN).
"""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from core.money import format_money
from marketplace import selectors as catalogue_selectors
from payouts import earnings
from payouts.earnings_forms import EarningsRangeForm

# The chart's drawing box (the SVG's viewBox; it scales to the page's width).
CHART_WIDTH = 640
CHART_HEIGHT = 240
CHART_TOP = 12
CHART_BOTTOM = 28  # room for the period labels under the bars
CHART_SIDE = 8
MAX_LABELS = 6  # period labels under the bars: few enough to read at phone width


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    negative: bool
    label: str  # the period, as the table names it
    amount: str  # formatted with its currency
    tick: str  # the label under the bar ("" for most bars when there are many)


@dataclass(frozen=True)
class Chart:
    currency: str
    bars: list
    zero_y: float
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    label_y: float = CHART_HEIGHT - 8


def _period_label(period, item):
    if period == "month":
        return f"{item.start:%B %Y}"
    return f"{item.start.day} {item.start:%b %Y} – {item.end.day} {item.end:%b %Y}"


def _tick(period, item):
    return f"{item.start:%b %y}" if period == "month" else f"{item.start.day} {item.start:%b}"


def chart_for(row, period):
    """Bars for one currency's periods: above the zero line for earnings, below it for a
    period where more was taken back than earned."""
    plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    plot_width = CHART_WIDTH - 2 * CHART_SIDE
    highest = max([0, *(p.net_cents for p in row.periods)])
    lowest = min([0, *(p.net_cents for p in row.periods)])
    spread = (highest - lowest) or 1
    zero_y = CHART_TOP + plot_height * highest / spread
    slot = plot_width / max(len(row.periods), 1)
    every = -(-len(row.periods) // MAX_LABELS)  # ceiling division
    bars = []
    for index, item in enumerate(row.periods):
        height = plot_height * abs(item.net_cents) / spread
        negative = item.net_cents < 0
        bars.append(
            Bar(
                x=round(CHART_SIDE + index * slot + slot * 0.15, 1),
                y=round(zero_y if negative else zero_y - height, 1),
                width=round(slot * 0.7, 1),
                height=round(height, 1),
                negative=negative,
                label=_period_label(period, item),
                amount=format_money(item.net_cents, row.currency),
                tick=_tick(period, item) if index % every == 0 else "",
            )
        )
    return Chart(currency=row.currency, bars=bars, zero_y=round(zero_y, 1))


def _store_or_onboarding(request):
    user = request.user
    store = catalogue_selectors.store_for_owner(user=user) if user.is_seller else None
    if store is None:
        # As the seller's other pages (payouts.views.seller_payouts): set up a store first.
        messages.info(request, "Set up your seller profile and store first.")
    return store


@login_required
@require_GET
def seller_earnings(request):
    store = _store_or_onboarding(request)
    if store is None:
        return redirect("seller-onboard")
    form = EarningsRangeForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(
            request,
            "payouts/seller_earnings.html",
            {"store": store, "form": form, "report": None},
            status=400,
        )
    if form.is_bound:
        period, start, end = (form.cleaned_data[k] for k in ("period", "from", "to"))
    else:
        period = "week"
        start, end = earnings.default_range(period)
        form = EarningsRangeForm(
            {"period": period, "from": start.isoformat(), "to": end.isoformat()}
        )
        form.is_valid()
    report = earnings.seller_earnings(seller=request.user, period=period, start=start, end=end)
    export_query = urlencode({"from": start.isoformat(), "to": end.isoformat()})
    return render(
        request,
        "payouts/seller_earnings.html",
        {
            "store": store,
            "form": form,
            "report": report,
            "charts": [(row, chart_for(row, period)) for row in report.currencies],
            "export_url": f"{reverse('seller-earnings-export')}?{export_query}",
            "export_too_long": (end - start).days + 1 > earnings.MAX_EXPORT_DAYS,
            "max_export_days": earnings.MAX_EXPORT_DAYS,
        },
    )


@login_required
@require_GET
def seller_earnings_export(request):
    store = _store_or_onboarding(request)
    if store is None:
        return redirect("seller-onboard")
    form = EarningsRangeForm(request.GET, max_days=earnings.MAX_EXPORT_DAYS)
    if not form.is_valid():
        problems = "\n".join(
            f"{form.fields[name].label if name in form.fields else 'Range'}: {message}"
            for name, errors in form.errors.items()
            for message in errors
        )
        return HttpResponse(
            f"The export was not made.\n{problems}\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return earnings.seller_ledger_csv_response(
        seller=request.user, start=form.cleaned_data["from"], end=form.cleaned_data["to"]
    )
