"""The product's URLs plus the sandbox's (its hosted onboarding pages, which account links point
at), as development mounts them: bench/webhooks_settings.py installs the sandbox."""

from django.urls import include, path

from config.urls import urlpatterns as product

urlpatterns = [path("stripe-sandbox/", include("stripe_sandbox.urls")), *product]
