"""Catalogue endpoints: categories, stores, public listings and the seller's own listings.

Thin views: reads come from marketplace.selectors, every write is one call to a service in
marketplace.services, and domain errors become 400/403/409 in core.api_errors.
"""

from urllib.parse import quote

import django_filters
from django.shortcuts import get_object_or_404
from django_filters import utils as filter_utils
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.response import Response

from core.http_cache import PublicCacheMixin
from core.pagination import KeysetPagination
from marketplace import selectors, services
from marketplace.filters import ListingFilter
from marketplace.models import Listing, ListingStatus
from marketplace.serializers import (
    AvailabilitySerializer,
    CategoryOutputSerializer,
    ListingFacetsOutputSerializer,
    ListingImageInputSerializer,
    ListingImageOutputSerializer,
    ListingInputSerializer,
    ListingOutputSerializer,
    SellerListingOutputSerializer,
    StoreOutputSerializer,
    StoreOwnerOutputSerializer,
    StoreUpdateInputSerializer,
)

NO_AVAILABILITY = (
    "This service has no availability yet: buyers order it without a time. PUT one to let "
    "them book a slot."
)
BECOME_A_SELLER = (
    "Only sellers can manage listings. Become a seller first: "
    "POST /api/v1/me/seller-profile/ with your display name, country and currency."
)


# --- Permissions --------------------------------------------------------------------------------


class IsSeller(BasePermission):
    """A signed-in user with a seller profile and a store; anyone else is told how to become one."""

    message = BECOME_A_SELLER

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.is_seller and hasattr(user, "store"))


class IsStoreOwnerOrReadOnly(BasePermission):
    message = "You can only edit your own store."

    def has_object_permission(self, request, view, obj):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return obj.owner_id == request.user.pk


# --- Categories ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Categories, with how many approved listings each has"),
    retrieve=extend_schema(summary="One category"),
)
class CategoryViewSet(
    PublicCacheMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = (AllowAny,)
    serializer_class = CategoryOutputSerializer
    filter_backends = ()
    lookup_field = "slug"
    lookup_value_regex = r"[-\w]+"

    def get_queryset(self):
        return selectors.category_list()

    def get_object(self):
        return get_object_or_404(self.get_queryset(), slug=self.kwargs["slug"])


# --- Stores -------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Stores"),
    retrieve=extend_schema(summary="One store"),
)
class StoreViewSet(
    PublicCacheMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = (IsStoreOwnerOrReadOnly,)
    serializer_class = StoreOutputSerializer
    pagination_class = KeysetPagination
    filter_backends = ()
    parser_classes = (JSONParser, MultiPartParser, FormParser)
    lookup_field = "slug"
    lookup_value_regex = r"[-\w]+"
    http_method_names = ("get", "patch", "head", "options")

    def get_queryset(self):
        return selectors.store_list()

    def get_object(self):
        store = selectors.store_public_get(slug=self.kwargs["slug"])
        self.check_object_permissions(self.request, store)
        return store

    def get_permissions(self):
        if self.action == "partial_update":
            return [IsAuthenticated(), IsStoreOwnerOrReadOnly()]
        return super().get_permissions()

    @extend_schema(
        summary="Edit your store (its owner only)",
        request=StoreUpdateInputSerializer,
        responses={
            200: StoreOwnerOutputSerializer,
            403: OpenApiResponse(description="Not your store"),
        },
    )
    def partial_update(self, request, slug=None):
        store = self.get_object()
        data = StoreUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.store_update(store=store, actor=request.user, **data.validated_data)
        # Re-read for the annotated listing count.
        store = selectors.store_public_get(slug=store.slug)
        return Response(StoreOwnerOutputSerializer(store, context={"request": request}).data)


# --- Public listings ----------------------------------------------------------------------------


# Set on a list whose search found nothing as typed and searched for corrected words instead.
CORRECTED_QUERY_HEADER = "Search-Corrected-Query"


class ListingFilterBackend(DjangoFilterBackend):
    """The list's filters, as DjangoFilterBackend applies them, keeping the filterset on the view:
    its search says whether the words were corrected, which the response then tells. The rows
    paged are the filterset's page_qs (a search by relevance ranks its newest matches)."""

    def get_filterset(self, request, queryset, view):
        view.filterset = super().get_filterset(request, queryset, view)
        return view.filterset

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if not filterset.is_valid():
            raise filter_utils.translate_validation(filterset.errors)
        return filterset.page_qs


@extend_schema_view(
    list=extend_schema(
        summary="Approved listings: search, filter, sort",
        parameters=[
            OpenApiParameter(
                CORRECTED_QUERY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=True,
                description="Only when q matched nothing as typed: what was searched for "
                "instead, each unknown word replaced by the catalogue's most similar one (\"walnut "
                'lamp" for "wallnut lamp"), lowercased and percent-encoded (UTF-8).',
            )
        ],
    ),
    retrieve=extend_schema(summary="One approved listing"),
)
class ListingViewSet(
    PublicCacheMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = (AllowAny,)
    serializer_class = ListingOutputSerializer
    filterset_class = ListingFilter
    filter_backends = (ListingFilterBackend,)
    pagination_class = KeysetPagination
    lookup_value_regex = r"\d+"
    queryset = Listing.objects.none()  # for the schema; requests use the selector

    def get_queryset(self):
        return selectors.listing_public_queryset()

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        corrected = self.filterset.corrected_query
        if corrected:
            response[CORRECTED_QUERY_HEADER] = quote(corrected)
        return response

    def get_object(self):
        return selectors.listing_public_get(pk=self.kwargs["pk"])

    @extend_schema(
        summary="How many listings each category, kind and price bucket holds, for the same "
        "search and filters as the list",
        filters=True,
        responses=ListingFacetsOutputSerializer,
    )
    @action(detail=False, methods=["get"])
    def facets(self, request):
        filterset = self.filterset_class(
            request.query_params, queryset=self.get_queryset(), request=request
        )
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        currency = filterset.form.cleaned_data.get("currency") or None
        facets = selectors.listing_facets(
            filterset.qs, currency=currency, cache_as=selectors.facet_cache_name(filterset)
        )
        body = {
            **facets,
            "fuzzy": filterset.fuzzy,
            "corrected_query": filterset.corrected_query,
        }
        return Response(ListingFacetsOutputSerializer(body).data)


# --- The seller's own listings ------------------------------------------------------------------


class SellerListingFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ListingStatus.choices)

    class Meta:
        model = Listing
        fields = ("status",)


def _transition_schema(summary):
    return extend_schema(
        summary=summary,
        request=None,
        responses={
            200: SellerListingOutputSerializer,
            409: OpenApiResponse(description="The listing's status does not allow this move"),
        },
    )


@extend_schema_view(
    list=extend_schema(summary="Your listings, in every status"),
    retrieve=extend_schema(summary="One of your listings"),
)
class SellerListingViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Listings of the signed-in seller's store. Another seller's listing does not exist here
    (404). There is no DELETE: archive a listing instead, so orders keep their history."""

    permission_classes = (IsAuthenticated, IsSeller)
    serializer_class = SellerListingOutputSerializer
    filterset_class = SellerListingFilter
    pagination_class = KeysetPagination
    lookup_value_regex = r"\d+"
    http_method_names = ("get", "post", "put", "patch", "delete", "head", "options")
    queryset = Listing.objects.none()  # for the schema; requests use the selector

    def get_queryset(self):
        return selectors.listings_for_seller(user=self.request.user)

    def get_object(self):
        return selectors.listing_for_seller_get(user=self.request.user, pk=self.kwargs["pk"])

    def _render(self, listing, status_code=status.HTTP_200_OK):
        return Response(self.get_serializer(listing).data, status=status_code)

    @extend_schema(
        summary="Create a listing (as a draft)",
        request=ListingInputSerializer,
        responses={201: SellerListingOutputSerializer},
    )
    def create(self, request):
        data = ListingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        listing = services.listing_create(
            store=request.user.store, actor=request.user, **data.validated_data
        )
        return self._render(listing, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a listing; editing reviewed text sends an approved listing back to review",
        request=ListingInputSerializer,
        responses={
            200: SellerListingOutputSerializer,
            409: OpenApiResponse(description="Archived listings cannot be edited"),
        },
    )
    def partial_update(self, request, pk=None):
        listing = self.get_object()
        data = ListingInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        listing = services.listing_update(
            listing=listing, actor=request.user, **data.validated_data
        )
        return self._render(listing)

    @_transition_schema("Submit a listing for review")
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        listing = services.listing_submit(listing=self.get_object(), actor=request.user)
        return self._render(listing)

    @_transition_schema("Take a listing back out of review, to keep editing it")
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        listing = services.listing_withdraw(listing=self.get_object(), actor=request.user)
        return self._render(listing)

    @_transition_schema("Archive a listing: hidden from buyers, kept for history")
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        listing = services.listing_archive(listing=self.get_object(), actor=request.user)
        return self._render(listing)

    @_transition_schema("Restore an archived listing as a draft")
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        listing = services.listing_restore(listing=self.get_object(), actor=request.user)
        return self._render(listing)

    @extend_schema(
        summary="Add an image to a listing (multipart upload)",
        request={"multipart/form-data": ListingImageInputSerializer},
        responses={201: ListingImageOutputSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="images",
        parser_classes=(MultiPartParser, FormParser),
    )
    def images(self, request, pk=None):
        listing = self.get_object()
        data = ListingImageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        listing_image = services.listing_image_add(
            listing=listing, actor=request.user, **data.validated_data
        )
        body = ListingImageOutputSerializer(listing_image, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove an image from a listing",
        request=None,
        parameters=[OpenApiParameter("image_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={204: None},
    )
    @action(detail=True, methods=["delete"], url_path=r"images/(?P<image_id>\d+)")
    def image_remove(self, request, pk=None, image_id=None):
        listing_image = get_object_or_404(self.get_object().images, pk=image_id)
        services.listing_image_remove(listing_image=listing_image, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="When your service can be booked (weekly hours, exceptions, buffer, notice)",
        request=None,
        responses={
            200: AvailabilitySerializer,
            404: OpenApiResponse(description="Not your listing, or no availability set yet"),
        },
    )
    @action(detail=True, methods=["get"], url_path="availability")
    def availability(self, request, pk=None):
        listing = self.get_object()
        availability = selectors.availability_for_listing(listing_id=listing.pk)
        if availability is None:
            raise NotFound(NO_AVAILABILITY)
        return Response(AvailabilitySerializer(availability).data)

    @extend_schema(
        summary="Set when your service can be booked (replaces the whole availability)",
        request=AvailabilitySerializer,
        responses={
            200: AvailabilitySerializer,
            400: OpenApiResponse(description="Field errors: overlapping hours, bad zone..."),
            403: OpenApiResponse(description="Not allowed"),
            404: OpenApiResponse(description="Not your listing"),
        },
    )
    @availability.mapping.put
    def availability_set(self, request, pk=None):
        listing = self.get_object()
        data = AvailabilitySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.setdefault("time_zone", request.user.time_zone)
        values.setdefault("exceptions", [])
        services.service_availability_set(listing=listing, actor=request.user, **values)
        availability = selectors.availability_for_listing(listing_id=listing.pk)
        return Response(AvailabilitySerializer(availability).data)
