"""Shared pieces of admin actions that ask staff for a reason first (reject listings, remove
files): the confirmation page is templates/admin/action_with_reason.html, extended per action."""

from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.text import capfirst


def reason_confirmation(modeladmin, request, queryset, *, form, title, action_name, template):
    """The intermediate page of an action: the chosen rows and the reason form."""
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "queryset": queryset,
        "form": form,
        "action_name": action_name,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "objects_name": capfirst(opts.verbose_name_plural),
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, template, context)
