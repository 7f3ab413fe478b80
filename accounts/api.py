"""Account endpoints: API tokens (sign in, sign out), sign-up, the signed-in user and their
seller profile.

Thin views: parse with an Input serializer, call one service, render with an Output serializer.
Domain errors raised by the services become 4xx in core.api_errors.
"""

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in, user_logged_out
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiTokenAuthentication
from accounts.lockout import cooloff_seconds, lockout_message
from accounts.selectors import shipping_address_get, shipping_addresses_for
from accounts.serializers import (
    EmailChangeInputSerializer,
    EmailChangeOutputSerializer,
    EmailResendOutputSerializer,
    MeOutputSerializer,
    MeUpdateInputSerializer,
    SellerOnboardInputSerializer,
    SellerProfileOutputSerializer,
    SellerProfileUpdateInputSerializer,
    ShippingAddressInputSerializer,
    ShippingAddressOutputSerializer,
    SignupInputSerializer,
    SignupOutputSerializer,
    TokenObtainInputSerializer,
    TokenOutputSerializer,
)
from accounts.services import (
    api_token_issue,
    api_token_revoke,
    api_tokens_revoke_all,
    email_change_request,
    email_confirmation_resend,
    seller_onboard,
    seller_profile_update,
    shipping_address_delete,
    shipping_address_save,
    shipping_address_set_default,
    user_signup,
    user_update,
)
from core.throttling import THROTTLED, ScopedRateThrottle

BAD_CREDENTIALS = "Unable to log in with that email and password."
NOT_A_SELLER = "You are not a seller yet. POST to /api/v1/me/seller-profile/ to become one."
EMAIL_UNVERIFIED = OpenApiResponse(
    description="Your email address is not confirmed yet: open the link we emailed "
    "(POST /api/v1/me/email/resend/ sends it again)"
)


class _AnonymousAuthApi(APIView):
    """Endpoints that hand out credentials: no session (so no CSRF dance), throttled."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "auth"


class TokenObtainApi(_AnonymousAuthApi):
    """Send the token in every request as `Authorization: Token <token>` until its `expiry`.
    Each sign-in gets a token of its own (one per device), revoked by logging out."""

    @extend_schema(
        operation_id="auth_token_obtain",
        tags=["auth"],
        summary="Exchange email and password for an API token",
        request=TokenObtainInputSerializer,
        responses={
            200: TokenOutputSerializer,
            400: OpenApiResponse(description="Bad credentials"),
            429: OpenApiResponse(
                description="Too many requests from this address, or too many failed "
                "attempts for this account from it: see Retry-After"
            ),
        },
    )
    def post(self, request):
        data = TokenObtainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=data.validated_data["email"].strip(),
            password=data.validated_data["password"],
        )
        if user is None:  # also inactive users: ModelBackend refuses them
            if getattr(request, "axes_locked_out", False):
                # django-axes refused it (accounts/lockout.py), whatever the password was.
                raise Throttled(wait=cooloff_seconds(), detail=lockout_message())
            raise serializers.ValidationError({"non_field_errors": [BAD_CREDENTIALS]})
        # As a login through the pages: last_login, and the lockout's count starts again.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        token, key = api_token_issue(user=user)
        return Response(TokenOutputSerializer({"token": key, "expiry": token.expiry}).data)


class SignupApi(_AnonymousAuthApi):
    """Create a buyer account. To sell, POST to /api/v1/me/seller-profile/ afterwards."""

    @extend_schema(
        operation_id="auth_signup",
        tags=["auth"],
        summary="Create an account and receive its API token",
        request=SignupInputSerializer,
        responses={
            201: SignupOutputSerializer,
            400: OpenApiResponse(description="Field errors"),
            429: THROTTLED,
        },
    )
    def post(self, request):
        data = SignupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_signup(**data.validated_data)
        token, key = api_token_issue(user=user)
        body = SignupOutputSerializer({"user": user, "token": key, "expiry": token.expiry}).data
        return Response(body, status=status.HTTP_201_CREATED)


class _TokenSignedInApi(APIView):
    """Signing out concerns the token the request carries: a browser session cannot use it."""

    authentication_classes = (ApiTokenAuthentication,)
    permission_classes = (IsAuthenticated,)

    def _signed_out(self, request):
        user_logged_out.send(sender=request.user.__class__, request=request, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutApi(_TokenSignedInApi):
    @extend_schema(
        operation_id="auth_logout",
        tags=["auth"],
        summary="Sign this app out: the token it sent stops working",
        request=None,
        responses={
            204: OpenApiResponse(description="Signed out"),
            401: OpenApiResponse(description="No valid token"),
        },
    )
    def post(self, request):
        api_token_revoke(token=request.auth)
        return self._signed_out(request)


class LogoutAllApi(_TokenSignedInApi):
    @extend_schema(
        operation_id="auth_logout_all",
        tags=["auth"],
        summary="Sign out everywhere: every token of this account stops working",
        request=None,
        responses={
            204: OpenApiResponse(description="Signed out on every device"),
            401: OpenApiResponse(description="No valid token"),
        },
    )
    def post(self, request):
        api_tokens_revoke_all(user=request.user)
        return self._signed_out(request)


class MeApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(operation_id="me_retrieve", tags=["me"], responses=MeOutputSerializer)
    def get(self, request):
        return Response(MeOutputSerializer(request.user).data)

    @extend_schema(
        operation_id="me_update",
        tags=["me"],
        request=MeUpdateInputSerializer,
        responses=MeOutputSerializer,
    )
    def patch(self, request):
        data = MeUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_update(user=request.user, actor=request.user, **data.validated_data)
        return Response(MeOutputSerializer(user).data)


class EmailChangeApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="me_email_change",
        tags=["me"],
        summary="Change the email address: a link goes to the new one",
        description="The account keeps its current address (sign-in, emails) until the link "
        "sent to the new address is opened. Asking again replaces the waiting address.",
        request=EmailChangeInputSerializer,
        responses={
            202: EmailChangeOutputSerializer,
            400: OpenApiResponse(description="Field errors: not an address, taken, or yours"),
        },
    )
    def post(self, request):
        data = EmailChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        address = email_change_request(user=request.user, email=data.validated_data["email"])
        body = {"email": request.user.email, "pending_email": address.email}
        return Response(EmailChangeOutputSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class EmailResendApi(APIView):
    permission_classes = (IsAuthenticated,)
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "email_confirmation"

    @extend_schema(
        operation_id="me_email_resend",
        tags=["me"],
        summary="Send the confirmation link again",
        description="For the account's address while it is unconfirmed, else for the new "
        "address waiting to replace it. Limited per person (BAZAAR_RATE_EMAIL_CONFIRMATION).",
        request=None,
        responses={202: EmailResendOutputSerializer, 429: THROTTLED},
    )
    def post(self, request):
        sent_to = email_confirmation_resend(user=request.user)
        return Response(
            EmailResendOutputSerializer({"sent_to": sent_to}).data,
            status=status.HTTP_202_ACCEPTED,
        )


class SellerProfileApi(APIView):
    permission_classes = (IsAuthenticated,)

    def _profile(self, request):
        profile = getattr(request.user, "seller_profile", None)
        if profile is None:
            raise NotFound(NOT_A_SELLER)
        return profile

    @extend_schema(
        operation_id="me_seller_profile_retrieve",
        tags=["me"],
        responses={
            200: SellerProfileOutputSerializer,
            404: OpenApiResponse(description=NOT_A_SELLER),
        },
    )
    def get(self, request):
        return Response(SellerProfileOutputSerializer(self._profile(request)).data)

    @extend_schema(
        operation_id="me_seller_profile_create",
        tags=["me"],
        summary="Become a seller: a seller profile and a store",
        description="Needs a confirmed email address (`email_verified` in GET /api/v1/me/).",
        request=SellerOnboardInputSerializer,
        responses={
            201: SellerProfileOutputSerializer,
            400: OpenApiResponse(description="Field errors, or already a seller"),
            403: EMAIL_UNVERIFIED,
        },
    )
    def post(self, request):
        data = SellerOnboardInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = seller_onboard(user=request.user, **data.validated_data)
        return Response(SellerProfileOutputSerializer(profile).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="me_seller_profile_update",
        tags=["me"],
        request=SellerProfileUpdateInputSerializer,
        responses={
            200: SellerProfileOutputSerializer,
            404: OpenApiResponse(description=NOT_A_SELLER),
        },
    )
    def patch(self, request):
        profile = self._profile(request)
        data = SellerProfileUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = seller_profile_update(profile=profile, actor=request.user, **data.validated_data)
        return Response(SellerProfileOutputSerializer(profile).data)


NO_ADDRESS = "You have no saved address with this id."


class ShippingAddressListApi(APIView):
    """GET /api/v1/me/shipping-addresses/: the buyer's saved addresses; POST saves one."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="me_shipping_addresses_list",
        tags=["me"],
        summary="Your saved shipping addresses, the default first",
        responses={200: ShippingAddressOutputSerializer(many=True)},
    )
    def get(self, request):
        # A person keeps at most MAX_SAVED_ADDRESSES: one list, not pages.
        rows = shipping_addresses_for(request.user)
        return Response(ShippingAddressOutputSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="me_shipping_addresses_create",
        tags=["me"],
        summary="Save a shipping address for your next orders",
        description="name, line1, city and country (ISO code) are required. Saving an address "
        "you already have returns it. Your first address becomes your default.",
        request=ShippingAddressInputSerializer,
        responses={
            201: ShippingAddressOutputSerializer,
            400: OpenApiResponse(description="Field errors, or too many saved addresses"),
        },
    )
    def post(self, request):
        data = ShippingAddressInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        address = shipping_address_save(user=request.user, **data.validated_data)
        return Response(
            ShippingAddressOutputSerializer(address).data, status=status.HTTP_201_CREATED
        )


class ShippingAddressDetailApi(APIView):
    """DELETE /api/v1/me/shipping-addresses/{id}/; POST .../{id}/default/ makes it the default."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="me_shipping_addresses_delete",
        tags=["me"],
        summary="Forget a saved address (orders keep their own copy)",
        request=None,
        responses={204: None, 404: OpenApiResponse(description=NO_ADDRESS)},
    )
    def delete(self, request, pk):
        if not shipping_address_delete(user=request.user, address_id=pk):
            raise NotFound(NO_ADDRESS)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ShippingAddressDefaultApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="me_shipping_addresses_default",
        tags=["me"],
        summary="Make a saved address your default",
        request=None,
        responses={
            200: ShippingAddressOutputSerializer,
            404: OpenApiResponse(description=NO_ADDRESS),
        },
    )
    def post(self, request, pk):
        if shipping_address_get(user=request.user, pk=pk) is None:
            raise NotFound(NO_ADDRESS)
        address = shipping_address_set_default(user=request.user, address_id=pk)
        return Response(ShippingAddressOutputSerializer(address).data)
