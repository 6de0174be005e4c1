# Compliance Portal image: the web server, the Celery worker and Celery beat all run from it
# (see docker-compose.yml for the command of each).
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

# collectstatic reads settings only, so it runs under the local defaults: the production secrets
# are given when the container starts, never baked into the image.
RUN COMPLIANCE_ENV=local python manage.py collectstatic --no-input \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /app app

USER app
ENV COMPLIANCE_ENV=production
EXPOSE 8000
CMD ["gunicorn", "-c", "compliance_portal/gunicorn.conf.py", "compliance_portal.wsgi"]
