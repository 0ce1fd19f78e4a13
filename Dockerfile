# syntax=docker/dockerfile:1
# roomtimer: one gunicorn process with one aiohttp worker per container (scale with more
# containers behind Nginx; see README "Deployment"). Build: docker build -t roomtimer .

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies are pinned in pyproject.toml; every one has a manylinux wheel (no compiler).
COPY pyproject.toml README.md LICENSE alembic.ini ./
COPY src ./src
COPY migrations ./migrations
RUN /opt/venv/bin/pip install . \
 && /opt/venv/bin/python -c "import roomtimer.worker, roomtimer.gunicorn_conf"

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin roomtimer \
 && mkdir -p /app /data \
 && chown roomtimer:roomtimer /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    ROOMTIMER_DATA_DIR=/data
WORKDIR /app
USER roomtimer
EXPOSE 3000
# /health/ready is 503 while PostgreSQL is unreachable: the container shows unhealthy. A
# Redis outage does not (commands still apply); /health reports every dependency.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health/ready' % os.environ.get('PORT', '3000'), timeout=2)"]
STOPSIGNAL SIGTERM
CMD ["gunicorn", "--config", "python:roomtimer.gunicorn_conf", "roomtimer.worker:app"]
