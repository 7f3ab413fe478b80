"""The signed-in person's notifications and email preferences, at /api/v1/notifications/.

Thin views: reads come from notifications.selectors, every write is a call to
notifications.services. Everything is scoped to the recipient: another person's notification is
a 404, never a 403, so ids cannot be probed.
"""

from django.db import transaction
from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ValidationFailed
from notifications import selectors, services
from notifications.models import Notification
from notifications.serializers import (
    MarkedReadOutputSerializer,
    NotificationListQuerySerializer,
    NotificationOutputSerializer,
    NotificationPreferenceInputSerializer,
    NotificationPreferenceOutputSerializer,
    UnreadCountOutputSerializer,
)
from notifications.signals import bell_checked

NOT_FOUND = "You have no notification with this id."
TAGS = ["notifications"]


class NotificationPagination(PageNumberPagination):
    """Page-numbered; `limit` sets the page size (the bell asks for 5)."""

    page_size = 20
    page_size_query_param = "limit"
    page_size_query_description = "Notifications per page (at most 100)."
    max_page_size = 100


def _no_store(response):
    # Counts and lists change every minute; a browser or proxy must not answer from a cache.
    add_never_cache_headers(response)
    return response


@extend_schema_view(
    list=extend_schema(
        tags=TAGS,
        summary="Your notifications, newest first",
        parameters=[NotificationListQuerySerializer],
    ),
)
class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = (IsAuthenticated,)
    serializer_class = NotificationOutputSerializer
    pagination_class = NotificationPagination
    filter_backends = ()
    lookup_value_regex = r"\d+"
    queryset = Notification.objects.none()  # for the schema; requests use the selector

    def get_queryset(self):
        return selectors.notifications_for(user=self.request.user)

    def list(self, request, *args, **kwargs):
        query = NotificationListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        queryset = selectors.notifications_for(
            user=request.user, unread_only=query.validated_data["unread_only"]
        )
        page = self.paginate_queryset(queryset)
        body = self.get_serializer(page, many=True).data
        return _no_store(self.get_paginated_response(body))

    @extend_schema(
        tags=TAGS,
        summary="How many of your notifications are unread (the bell polls this)",
        responses={200: UnreadCountOutputSerializer},
    )
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        # The bell polls this only while a tab is visible: the person is online.
        bell_checked.send(sender=Notification, user=request.user)
        count = selectors.notification_unread_count(user=request.user)
        return _no_store(Response(UnreadCountOutputSerializer({"unread_count": count}).data))

    @extend_schema(
        tags=TAGS,
        summary="Mark one notification read",
        request=None,
        responses={
            200: NotificationOutputSerializer,
            404: OpenApiResponse(description=NOT_FOUND),
        },
    )
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        try:
            notification = services.notification_mark_read(
                user=request.user, notification_id=int(pk)
            )
        except Notification.DoesNotExist as exc:
            raise NotFound(NOT_FOUND) from exc
        return Response(NotificationOutputSerializer(notification).data)

    @extend_schema(
        tags=TAGS,
        summary="Mark all your notifications read",
        request=None,
        responses={200: MarkedReadOutputSerializer},
    )
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        marked = services.notification_mark_all_read(user=request.user)
        return Response(MarkedReadOutputSerializer({"marked": marked}).data)

    @extend_schema(
        tags=TAGS,
        summary="Delete one notification",
        request=None,
        responses={204: None, 404: OpenApiResponse(description=NOT_FOUND)},
    )
    def destroy(self, request, pk=None):
        try:
            services.notification_delete(user=request.user, notification_id=int(pk))
        except Notification.DoesNotExist as exc:
            raise NotFound(NOT_FOUND) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


_PREFERENCES_UPDATE = {
    "request": NotificationPreferenceInputSerializer(many=True),
    "responses": {
        200: NotificationPreferenceOutputSerializer(many=True),
        400: OpenApiResponse(
            description="Field messages per refused item, keyed by its position in the list"
        ),
    },
}


class NotificationPreferencesApi(APIView):
    """Which notifications are also emailed, per event. PUT and PATCH both change only the
    events sent and leave the others as they are; the answer is the full list either way."""

    permission_classes = (IsAuthenticated,)
    # The body is a list of choices, which only JSON carries: a form or multipart body is a 415
    # (and the schema offers JSON only) rather than a list read as empty.
    parser_classes = (JSONParser,)

    def _render(self, user):
        rows = NotificationPreferenceOutputSerializer.rows(services.preferences_for(user=user))
        return Response(NotificationPreferenceOutputSerializer(rows, many=True).data)

    @extend_schema(
        tags=TAGS,
        operation_id="notifications_preferences_list",
        summary="Your email choice for every notification event",
        responses={200: NotificationPreferenceOutputSerializer(many=True)},
    )
    def get(self, request):
        return self._render(request.user)

    @extend_schema(
        tags=TAGS,
        operation_id="notifications_preferences_update",
        summary="Set the email choice of the events sent",
        **_PREFERENCES_UPDATE,
    )
    def put(self, request):
        return self._update(request)

    @extend_schema(
        tags=TAGS,
        operation_id="notifications_preferences_partial_update",
        summary="Set the email choice of the events sent (same as PUT)",
        **_PREFERENCES_UPDATE,
    )
    def patch(self, request):
        return self._update(request)

    def _update(self, request):
        data = NotificationPreferenceInputSerializer(
            data=request.data, many=True, allow_empty=False
        )
        data.is_valid(raise_exception=True)
        items = data.validated_data
        # All or nothing: one refused choice leaves every preference as it was.
        with transaction.atomic():
            for index, item in enumerate(items):
                try:
                    services.preference_set(user=request.user, **item)
                except ValidationFailed as exc:
                    # Keyed by the item's position, like DRF's own errors for a list body.
                    raise serializers.ValidationError({index: exc.errors}) from exc
        return self._render(request.user)
