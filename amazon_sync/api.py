"""The seller's Amazon channel over the API, at /api/v1/seller/amazon/.

GET   /                                  the connection (connected, seller id, marketplace)
POST  connect/                           Login with Amazon's address to open in the browser
POST  disconnect/                        forget the credentials (204)
GET   listings/                          the seller's listings with their Amazon sync status
GET   listings/<listing_id>/             one of them
POST  listings/<listing_id>/publish/     publish (or send again in full) with a product type
POST  listings/<listing_id>/sync/        "Sync now"
POST  listings/<listing_id>/delist/      delete it from Amazon
GET   feeds/, POST feeds/                bulk syncs of the catalogue; GET feeds/<id>/ per item

Amazon is called by tasks after the request: publish, sync, delist and feeds answer 202 with
the state as it is, and the status moves as Amazon answers. Someone else's listing or feed is a
404, like one that does not exist.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from amazon_sync import selectors, services
from amazon_sync.serializers import (
    AmazonAccountOutputSerializer,
    AmazonFeedDetailOutputSerializer,
    AmazonFeedOutputSerializer,
    AmazonListingOutputSerializer,
    ConnectOutputSerializer,
    PublishInputSerializer,
    SellerListingWithAmazonOutputSerializer,
)
from amazon_sync.views import callback_uri
from marketplace.api import IsSeller, SellerListingViewSet

TAGS = ["seller-amazon"]
PERMISSIONS = (IsAuthenticated, IsSeller)
NOT_ON_AMAZON = OpenApiResponse(description="Not on Amazon, or no Amazon account connected")


class AmazonAccountApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        tags=TAGS,
        summary="Your Amazon seller account's connection",
        responses={200: AmazonAccountOutputSerializer},
    )
    def get(self, request):
        account = selectors.account_for_seller(user=request.user)
        return Response(
            AmazonAccountOutputSerializer(AmazonAccountOutputSerializer.of(account)).data
        )


class AmazonConnectApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        tags=TAGS,
        summary="Start connecting: the Login with Amazon address to open in the browser",
        request=None,
        responses={200: ConnectOutputSerializer},
    )
    def post(self, request):
        url = services.amazon_connect_start(user=request.user, redirect_uri=callback_uri(request))
        return Response(ConnectOutputSerializer({"authorization_url": url}).data)


class AmazonDisconnectApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        tags=TAGS,
        summary="Disconnect Amazon: its credentials are deleted (not connected: also 204)",
        request=None,
        responses={204: None},
    )
    def post(self, request):
        services.amazon_account_disconnect(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AmazonListingListApi(GenericAPIView):
    permission_classes = PERMISSIONS
    serializer_class = AmazonListingOutputSerializer
    filter_backends = ()

    def get_queryset(self):
        return selectors.listings_with_sync_for_seller(user=self.request.user)

    @extend_schema(
        tags=TAGS,
        summary="Your listings with their Amazon sync status",
        responses={200: AmazonListingOutputSerializer(many=True)},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


def _listing_response(request, pk, status_code=status.HTTP_200_OK):
    listing = selectors.listing_with_sync_for_seller_get(user=request.user, pk=pk)
    return Response(AmazonListingOutputSerializer(listing).data, status=status_code)


class AmazonListingDetailApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        tags=TAGS,
        summary="One of your listings with its Amazon sync status",
        responses={200: AmazonListingOutputSerializer},
    )
    def get(self, request, pk):
        return _listing_response(request, pk)


class AmazonListingPublishApi(APIView):
    permission_classes = PERMISSIONS
    parser_classes = (JSONParser,)

    @extend_schema(
        tags=TAGS,
        summary="Publish the listing to Amazon, or send it again in full",
        request=PublishInputSerializer,
        responses={
            202: AmazonListingOutputSerializer,
            400: OpenApiResponse(description="The listing cannot be sold on Amazon (why)"),
            409: OpenApiResponse(description="No Amazon account connected"),
        },
    )
    def post(self, request, pk):
        listing = selectors.listing_with_sync_for_seller_get(user=request.user, pk=pk)
        data = PublishInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.amazon_listing_publish(
            listing=listing, actor=request.user, product_type=data.validated_data["product_type"]
        )
        return _listing_response(request, pk, status.HTTP_202_ACCEPTED)


def _row_api(service, summary):
    class RowApi(APIView):
        permission_classes = PERMISSIONS

        @extend_schema(
            tags=TAGS,
            summary=summary,
            request=None,
            responses={
                202: AmazonListingOutputSerializer,
                400: OpenApiResponse(description="The listing cannot be sold on Amazon (why)"),
                409: NOT_ON_AMAZON,
            },
        )
        def post(self, request, pk):
            row = selectors.amazon_listing_for_seller_get(user=request.user, listing_pk=pk)
            service(amazon_listing=row, actor=request.user)
            return _listing_response(request, pk, status.HTTP_202_ACCEPTED)

    return RowApi


class AmazonListingSyncApi(
    _row_api(services.amazon_listing_sync_now, "Sync now: send it to Amazon again in full")
):
    pass


class AmazonListingDelistApi(
    _row_api(services.amazon_listing_delist, "Delist: delete the listing from Amazon")
):
    pass


class AmazonFeedListApi(GenericAPIView):
    permission_classes = PERMISSIONS
    serializer_class = AmazonFeedOutputSerializer
    filter_backends = ()

    def get_queryset(self):
        return selectors.feeds_for_seller(user=self.request.user)

    @extend_schema(
        tags=TAGS,
        summary="Your catalogue syncs, newest first",
        responses={200: AmazonFeedOutputSerializer(many=True)},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="Sync your whole catalogue to Amazon (one listings feed)",
        request=None,
        responses={
            202: AmazonFeedOutputSerializer,
            400: OpenApiResponse(description="No listing can go to Amazon yet (why)"),
            409: OpenApiResponse(description="No Amazon account connected"),
        },
    )
    def post(self, request):
        feed = services.amazon_feed_create(store=request.user.store, actor=request.user)
        return Response(self.get_serializer(feed).data, status=status.HTTP_202_ACCEPTED)


class AmazonFeedDetailApi(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        tags=TAGS,
        summary="A catalogue sync with each listing's result",
        responses={200: AmazonFeedDetailOutputSerializer},
    )
    def get(self, request, pk):
        feed = selectors.feed_for_seller_get(user=request.user, pk=pk)
        return Response(AmazonFeedDetailOutputSerializer(feed).data)


class SellerListingWithAmazonViewSet(SellerListingViewSet):
    """The seller's listings (marketplace.api), each with its Amazon sync status (`amazon`),
    read in the same query."""

    serializer_class = SellerListingWithAmazonOutputSerializer

    def get_queryset(self):
        return selectors.listings_with_sync_for_seller(user=self.request.user)

    def get_object(self):
        return selectors.listing_with_sync_for_seller_get(
            user=self.request.user, pk=self.kwargs["pk"]
        )
