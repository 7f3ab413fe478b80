"""/health/: is the database reachable, is the Celery broker reachable. JSON, 200 or 503."""

from celery import current_app as celery_app
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _database_status():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return "ok", None
    except Exception as exc:  # any failure means "not reachable": report it, do not crash
        return "error", str(exc)


def _broker_status():
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok", None
    except Exception as exc:
        return "error", str(exc)


@never_cache
@require_GET
def health(request):
    database, db_error = _database_status()
    broker, broker_error = _broker_status()
    healthy = database == "ok" and broker == "ok"
    body = {
        "status": "ok" if healthy else "error",
        "database": {"status": database, "vendor": connection.vendor},
        "broker": {"status": broker, "transport": celery_app.conf.broker_url.split(":", 1)[0]},
    }
    if db_error:
        body["database"]["error"] = db_error
    if broker_error:
        body["broker"]["error"] = broker_error
    return JsonResponse(body, status=200 if healthy else 503)
