"""Staff look at what people saved (to answer "why did I get this alert?"); nobody edits it by
hand: people save and unsave on the site and in the app."""

from django.contrib import admin

from favourites.models import ListingFavourite, StoreFavourite


class FavouriteAdmin(admin.ModelAdmin):
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ListingFavourite)
class ListingFavouriteAdmin(FavouriteAdmin):
    list_display = ("user", "listing", "store_name", "created_at")
    list_filter = ("listing__status",)
    search_fields = ("user__email", "user__full_name", "listing__title", "=listing__id")
    list_select_related = ("user", "listing__store")
    readonly_fields = ("user", "listing", "created_at")

    @admin.display(description="Store", ordering="listing__store__name")
    def store_name(self, obj):
        return obj.listing.store.name


@admin.register(StoreFavourite)
class StoreFavouriteAdmin(FavouriteAdmin):
    list_display = ("user", "store", "created_at")
    search_fields = ("user__email", "user__full_name", "store__name", "store__slug")
    list_select_related = ("user", "store")
    readonly_fields = ("user", "store", "created_at")
