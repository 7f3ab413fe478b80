from django.conf import settings


def site(request):
    return {"SITE_NAME": "Bazaar", "DJANGO_ENV": settings.DJANGO_ENV}
