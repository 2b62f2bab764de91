# One image for web, worker and beat.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY . .
RUN useradd --system --home /app portal && mkdir -p /data && chown portal /data \
    && SECRET_KEY=build FERNET_KEYS=aW1hZ2UtYnVpbGQtb25seS1ub3QtYS1yZWFsLWtleS0= \
       python manage.py collectstatic --noinput
USER portal
EXPOSE 8000
CMD ["gunicorn", "recordings_portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
