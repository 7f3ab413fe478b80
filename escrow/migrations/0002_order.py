# Orders moved here from marketplace/: the order and everything money does to it live in one
# app. The table keeps its name (marketplace_order), so this changes Django's state only: the
# model is declared here, and escrow's own foreign keys now point at it. marketplace's 0003
# removes the old declaration and hands over the content type (audit trail, permissions).

import django.core.validators
import django.db.models.deletion
import django.db.models.expressions
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("escrow", "0001_initial"),
        ("marketplace", "0002_order"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Order',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('listing_title', models.CharField(max_length=140)),
                        ('listing_kind', models.CharField(choices=[('product', 'Product'), ('service', 'Service')], max_length=10)),
                        ('unit_price_cents', models.PositiveIntegerField()),
                        ('quantity', models.PositiveIntegerField(default=1, validators=[django.core.validators.MinValueValidator(1)])),
                        ('total_cents', models.PositiveIntegerField()),
                        ('currency', models.CharField(max_length=3)),
                        ('commission_bps', models.PositiveIntegerField()),
                        ('commission_fixed_cents', models.PositiveIntegerField(default=0)),
                        ('commission_min_cents', models.PositiveIntegerField(default=0)),
                        ('commission_cents', models.PositiveIntegerField()),
                        ('stripe_fee_payer', models.CharField(default='platform', max_length=10)),
                        ('status', models.CharField(choices=[('pending_payment', 'Awaiting payment'), ('funded', 'Paid, held in escrow'), ('delivered', 'Delivered, in review'), ('released', 'Completed'), ('cancelled', 'Cancelled'), ('expired', 'Expired')], default='pending_payment', max_length=20)),
                        ('payment_error', models.CharField(blank=True, max_length=300)),
                        ('stock_reserved', models.BooleanField(default=False)),
                        ('expires_at', models.DateTimeField(blank=True, null=True)),
                        ('funded_at', models.DateTimeField(blank=True, null=True)),
                        ('delivered_at', models.DateTimeField(blank=True, null=True)),
                        ('delivery_note', models.TextField(blank=True)),
                        ('review_deadline', models.DateTimeField(blank=True, null=True)),
                        ('reminder_sent_at', models.DateTimeField(blank=True, null=True)),
                        ('released_at', models.DateTimeField(blank=True, null=True)),
                        ('closed_at', models.DateTimeField(blank=True, null=True)),
                        ('client_key', models.CharField(blank=True, max_length=255)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('buyer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='orders_placed', to=settings.AUTH_USER_MODEL)),
                        ('listing', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='marketplace.listing')),
                        ('seller', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='orders_received', to=settings.AUTH_USER_MODEL)),
                        ('store', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='marketplace.store')),
                    ],
                    options={
                        'db_table': 'marketplace_order',
                        'ordering': ['-created_at', '-id'],
                        'indexes': [models.Index(fields=['buyer', '-created_at'], name='marketplace_buyer_i_dfa750_idx'), models.Index(fields=['seller', '-created_at'], name='marketplace_seller__970086_idx'), models.Index(fields=['status', 'review_deadline'], name='marketplace_status_d478e9_idx'), models.Index(fields=['status', 'expires_at'], name='marketplace_status_ee8552_idx')],
                        'constraints': [models.CheckConstraint(condition=models.Q(('total_cents', django.db.models.expressions.CombinedExpression(models.F('unit_price_cents'), '*', models.F('quantity')))), name='order_total_is_price_times_quantity'), models.CheckConstraint(condition=models.Q(('commission_cents__lte', models.F('total_cents'))), name='order_commission_within_total'), models.UniqueConstraint(condition=models.Q(('client_key', ''), _negated=True), fields=('buyer', 'client_key'), name='order_client_key_per_buyer')],
                    },
                ),
                migrations.AlterField(
                    model_name="escrowpayment",
                    name="order",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="payments",
                        to="escrow.order",
                    ),
                ),
                migrations.AlterField(
                    model_name="escrowrelease",
                    name="order",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="release",
                        to="escrow.order",
                    ),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="order",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ledger_entries",
                        to="escrow.order",
                    ),
                ),
                migrations.AlterField(
                    model_name="reconciliationdifference",
                    name="order",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="escrow.order",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
