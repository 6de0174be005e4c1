import logging
import os
import time

from celery import Celery, Task
from kombu.exceptions import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance_portal.settings")

logger = logging.getLogger(__name__)


class OutboxTask(Task):
    """A task whose work is also recorded in PostgreSQL (a pending chunk, a queued feed job, an
    undispatched webhook event, an unmailed notification) and swept by a periodic task.

    Queueing it therefore never fails the caller: with the broker unreachable the message is
    dropped with a warning and the row waits for the sweep once the broker is back. After one
    refusal the broker is not tried again for ``BROKER_DOWN_SECONDS`` in this process, so a
    request that queues many tasks still answers at once.
    """

    BROKER_DOWN_SECONDS = 5.0
    _broker_down_until = 0.0  # shared by every OutboxTask of the process

    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None, link=None, link_error=None, **options):
        if self.app.conf.task_always_eager:
            return super().apply_async(args, kwargs, task_id, producer, link, link_error, **options)
        if time.monotonic() < OutboxTask._broker_down_until:
            logger.info("Task %s not queued: the broker was unreachable moments ago (the sweep queues it)", self.name)
            return None
        try:
            return super().apply_async(args, kwargs, task_id, producer, link, link_error, **options)
        except OperationalError as exc:
            OutboxTask._broker_down_until = time.monotonic() + self.BROKER_DOWN_SECONDS
            logger.warning("Task %s not queued, the broker is unreachable (the sweep queues it): %s", self.name, exc)
            return None


app = Celery("compliance_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
