"""Payouts with Stripe Connect over the API, mounted at /api/v1/seller/connect/.

GET   /api/v1/seller/connect/             the seller's Stripe status, in plain words too
POST  /api/v1/seller/connect/             start or continue onboarding: account_id, onboarding_url
POST  /api/v1/seller/connect/login-link/  a single-use link into the Stripe Express dashboard

Stripe being unreachable is a 503, Stripe refusing is a 400, both with a `detail` to show.
"""

import stripe
from django.conf import settings
from django.urls import path, reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.connect import connect_login_link_create, connect_onboarding_link_create
from accounts.selectors import connect_status, connected_account_for
from core.errors import StripeUnavailable

NOT_A_SELLER = "You are not a seller yet. POST to /api/v1/me/seller-profile/ to become one."


class StripeProblem(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "stripe_unavailable"

    @classmethod
    def from_error(cls, exc):
        problem = cls(detail=exc.message)
        if isinstance(exc.__cause__, stripe.InvalidRequestError):
            problem.status_code = status.HTTP_400_BAD_REQUEST
        return problem


# --- Output -------------------------------------------------------------------------------------


class RequirementsOutputSerializer(serializers.Serializer):
    currently_due = serializers.ListField(child=serializers.CharField())
    past_due = serializers.ListField(child=serializers.CharField())
    eventually_due = serializers.ListField(child=serializers.CharField())
    disabled_reason = serializers.CharField(allow_blank=True)
    current_deadline = serializers.DateTimeField(allow_null=True)


class ConnectStatusOutputSerializer(serializers.Serializer):
    account_id = serializers.CharField(allow_null=True)
    state = serializers.CharField()
    headline = serializers.CharField()
    messages = serializers.ListField(child=serializers.CharField())
    action_label = serializers.CharField(allow_blank=True)
    charges_enabled = serializers.BooleanField()
    payouts_enabled = serializers.BooleanField()
    details_submitted = serializers.BooleanField()
    requirements = RequirementsOutputSerializer()

    @staticmethod
    def shape(status_):
        account = status_.account
        return {
            "account_id": account.stripe_account_id if account else None,
            "state": status_.state,
            "headline": status_.headline,
            "messages": status_.messages,
            "action_label": status_.action_label,
            "charges_enabled": status_.can_accept_payments,
            "payouts_enabled": status_.can_receive_payouts,
            "details_submitted": bool(account and account.details_submitted),
            "requirements": {
                "currently_due": account.requirements_currently_due if account else [],
                "past_due": account.requirements_past_due if account else [],
                "eventually_due": account.requirements_eventually_due if account else [],
                "disabled_reason": account.disabled_reason if account else "",
                "current_deadline": account.current_deadline if account else None,
            },
        }


class OnboardingOutputSerializer(serializers.Serializer):
    account_id = serializers.CharField()
    onboarding_url = serializers.URLField()


class LoginLinkOutputSerializer(serializers.Serializer):
    url = serializers.URLField()


def _seller_profile(request):
    profile = getattr(request.user, "seller_profile", None)
    if profile is None:
        raise PermissionDenied(NOT_A_SELLER)
    return profile


def _absolute(name):
    return settings.SITE_URL.rstrip("/") + reverse(name)


class ConnectApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="seller_connect_retrieve",
        tags=["seller"],
        summary="Your payouts status with Stripe",
        responses={
            200: ConnectStatusOutputSerializer,
            403: OpenApiResponse(description=NOT_A_SELLER),
        },
    )
    def get(self, request):
        _seller_profile(request)
        connected = connected_account_for(request.user)
        body = ConnectStatusOutputSerializer.shape(connect_status(connected=connected))
        return Response(ConnectStatusOutputSerializer(body).data)

    @extend_schema(
        operation_id="seller_connect_onboard",
        tags=["seller"],
        summary="Start or continue Stripe onboarding; open onboarding_url in a browser",
        request=None,
        responses={
            200: OnboardingOutputSerializer,
            403: OpenApiResponse(description=NOT_A_SELLER),
            503: OpenApiResponse(description="Stripe could not be reached"),
        },
    )
    def post(self, request):
        profile = _seller_profile(request)
        try:
            connected, url = connect_onboarding_link_create(
                seller_profile=profile,
                return_url=_absolute("connect-return"),
                refresh_url=_absolute("connect-refresh"),
            )
        except StripeUnavailable as exc:
            raise StripeProblem.from_error(exc) from exc
        body = {"account_id": connected.stripe_account_id, "onboarding_url": url}
        return Response(OnboardingOutputSerializer(body).data)


class ConnectLoginLinkApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="seller_connect_login_link",
        tags=["seller"],
        summary="A single-use link into your Stripe Express dashboard",
        request=None,
        responses={
            200: LoginLinkOutputSerializer,
            403: OpenApiResponse(description=NOT_A_SELLER),
            409: OpenApiResponse(description="Onboarding is not finished"),
        },
    )
    def post(self, request):
        profile = _seller_profile(request)
        try:
            url = connect_login_link_create(seller_profile=profile)
        except StripeUnavailable as exc:
            raise StripeProblem.from_error(exc) from exc
        return Response(LoginLinkOutputSerializer({"url": url}).data)


urlpatterns = [
    path("", ConnectApi.as_view(), name="api-seller-connect"),
    path("login-link/", ConnectLoginLinkApi.as_view(), name="api-seller-connect-login-link"),
]
