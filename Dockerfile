# Compliance Portal image: the web server, the Celery worker and Celery beat all run from it
# (see docker-compose.yml for the command of each).
# The browser libraries (htmx, Chart.js) come from the npm registry at the lockfile's versions.
FROM node:20-slim AS assets
WORKDIR /frontend
COPY shops/frontend/package.json shops/frontend/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
    && mkdir -p /vendor \
    && cp node_modules/htmx.org/dist/htmx.min.js node_modules/chart.js/dist/chart.umd.min.js /vendor/

FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
COPY --from=assets /vendor/ shops/static/vendor/

# collectstatic reads settings only, so it runs under the local defaults: the production secrets
# are given when the container starts, never baked into the image.
RUN COMPLIANCE_ENV=local STATIC_MANIFEST=1 python manage.py collectstatic --no-input \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /app app \
    && mkdir -p /data/media /data/private/exports && chown -R app:app /data

# Uploaded evidence and privacy exports: written by the web server and the worker, read by both
# (docker-compose.yml mounts one volume here for both).
ENV MEDIA_ROOT=/data/media \
    PRIVACY_EXPORT_ROOT=/data/private/exports

USER app
ENV COMPLIANCE_ENV=production
EXPOSE 8000
CMD ["gunicorn", "-c", "compliance_portal/gunicorn.conf.py", "compliance_portal.wsgi"]
