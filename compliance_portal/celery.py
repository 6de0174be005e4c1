import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance_portal.settings")

app = Celery("compliance_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
