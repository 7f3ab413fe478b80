"""Saved listings and stores at /api/v1/favourites/, and the catalogue's listing and store
endpoints with `is_favourite` for the signed-in person.

Thin views: reads come from favourites.selectors, writes are one call to favourites.services.
Everything is the signed-in person's own: nobody sees or removes another's favourites.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from favourites import selectors, services
from favourites.serializers import (
    ListingFavouriteInputSerializer,
    ListingFavouriteOutputSerializer,
    ListingWithFavouriteOutputSerializer,
    StoreFavouriteInputSerializer,
    StoreFavouriteOutputSerializer,
    StoreWithFavouriteOutputSerializer,
)
from marketplace.api import ListingViewSet, StoreViewSet

TAGS = ["favourites"]
SAVED = "Already saved: nothing changed (saving is idempotent)"


# --- The catalogue, with is_favourite -----------------------------------------------------------


class ListingWithFavouriteViewSet(ListingViewSet):
    """The public listings (marketplace.api), each saying whether the signed-in person saved it:
    one EXISTS per query, never a query per row."""

    serializer_class = ListingWithFavouriteOutputSerializer

    def get_queryset(self):
        return selectors.listings_with_favourite_flag(
            super().get_queryset(), user=self.request.user
        )

    def get_object(self):
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])


class StoreWithFavouriteViewSet(StoreViewSet):
    serializer_class = StoreWithFavouriteOutputSerializer

    def get_queryset(self):
        return selectors.stores_with_favourite_flag(super().get_queryset(), user=self.request.user)

    def get_object(self):
        store = get_object_or_404(self.get_queryset(), slug=self.kwargs["slug"])
        self.check_object_permissions(self.request, store)
        return store

    # Editing (PATCH) is the catalogue's own: it answers with the owner's view (contact details
    # included), which the public one with its flag leaves out.


# --- Saved listings -----------------------------------------------------------------------------


class ListingFavouriteListApi(GenericAPIView):
    permission_classes = (IsAuthenticated,)
    parser_classes = (JSONParser,)
    serializer_class = ListingFavouriteOutputSerializer
    filter_backends = ()

    def get_queryset(self):
        return selectors.listing_favourites_for(user=self.request.user)

    @extend_schema(
        tags=TAGS,
        summary="Listings you saved that are on sale, newest saved first",
        responses={200: ListingFavouriteOutputSerializer(many=True)},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="Save a listing (only an approved one)",
        request=ListingFavouriteInputSerializer,
        responses={
            201: ListingFavouriteOutputSerializer,
            200: OpenApiResponse(ListingFavouriteOutputSerializer, description=SAVED),
            400: OpenApiResponse(description="No such listing, or it is not on sale"),
        },
    )
    def post(self, request):
        data = ListingFavouriteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        favourite, created = services.listing_favourite_add(
            user=request.user, listing_id=data.validated_data["listing_id"]
        )
        favourite = self.get_queryset().get(pk=favourite.pk)
        return Response(
            self.get_serializer(favourite).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ListingFavouriteDetailApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        tags=TAGS,
        summary="Unsave a listing (done already, or never saved: also 204)",
        request=None,
        responses={204: None},
    )
    def delete(self, request, listing_id):
        services.listing_favourite_remove(user=request.user, listing_id=listing_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Saved stores -------------------------------------------------------------------------------


class StoreFavouriteListApi(GenericAPIView):
    permission_classes = (IsAuthenticated,)
    parser_classes = (JSONParser,)
    serializer_class = StoreFavouriteOutputSerializer
    filter_backends = ()

    def get_queryset(self):
        return selectors.store_favourites_for(user=self.request.user)

    @extend_schema(
        tags=TAGS,
        summary="Stores you saved, newest saved first",
        responses={200: StoreFavouriteOutputSerializer(many=True)},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="Save a store",
        request=StoreFavouriteInputSerializer,
        responses={
            201: StoreFavouriteOutputSerializer,
            200: OpenApiResponse(StoreFavouriteOutputSerializer, description=SAVED),
            400: OpenApiResponse(description="No such store"),
        },
    )
    def post(self, request):
        data = StoreFavouriteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        favourite, created = services.store_favourite_add(
            user=request.user, store_slug=data.validated_data["store"]
        )
        favourite = self.get_queryset().get(pk=favourite.pk)
        return Response(
            self.get_serializer(favourite).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class StoreFavouriteDetailApi(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        tags=TAGS,
        summary="Unsave a store (done already, or never saved: also 204)",
        request=None,
        responses={204: None},
    )
    def delete(self, request, slug):
        services.store_favourite_remove(user=request.user, store_slug=slug)
        return Response(status=status.HTTP_204_NO_CONTENT)
