"""Listing indexes that serve each catalogue sort to the end, the id included: the newest,
price and title sorts read a page in index order from where its cursor points (the new
indexes are built before the old ones go, so the catalogue is never without one)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0010_listing_duration_and_stock_bounds"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="listing",
            index=models.Index(
                fields=["status", "-created_at", "-id"], name="listing_status_newest"
            ),
        ),
        migrations.AddIndex(
            model_name="listing",
            index=models.Index(fields=["status", "price_cents", "id"], name="listing_status_price"),
        ),
        migrations.AddIndex(
            model_name="listing",
            index=models.Index(fields=["status", "title", "id"], name="listing_status_title"),
        ),
        migrations.RemoveIndex(
            model_name="listing",
            name="marketplace_status_0bc035_idx",
        ),
        migrations.RemoveIndex(
            model_name="listing",
            name="marketplace_status_f42110_idx",
        ),
    ]
