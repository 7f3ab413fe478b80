import os
from pathlib import Path

from celery import Celery
from celery.signals import before_task_publish, setup_logging

from core.logs import task_publish_add_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("bazaar")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _create_filesystem_broker_folders(sender, **kwargs):
    """kombu's filesystem transport (the embedded broker) needs its folders to exist."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@setup_logging.connect
def _log_through_django_settings(**kwargs):
    """The worker logs through settings.LOGGING (JSON lines in production, with task ids and
    secrets masked), not Celery's own format: connecting here stops Celery replacing it."""


# A task queued during a request logs that request's id too.
before_task_publish.connect(task_publish_add_request_id)
