"""Gunicorn settings for the web container (``gunicorn -c compliance_portal/gunicorn.conf.py``).

Worker count comes from ``WEB_CONCURRENCY`` (3 if unset); anything else can be changed with
``GUNICORN_CMD_ARGS`` without rebuilding the image.
"""

import os

# Inside the container the port is published by Docker; listening on every interface is intended.
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
# Long enough for a large export, short enough that a stuck worker is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
accesslog = "-"
errorlog = "-"
# The runtime control socket would live under $HOME, which the app user cannot write to.
control_socket_disable = True
