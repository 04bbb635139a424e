# One image, three roles; the command picks the role (see compose.yaml):
#   web:        gunicorn -c deploy/gunicorn.conf.py telemetry_site.wsgi   (0.0.0.0:8000, 4 workers)
#   consumer:   python manage.py consume_equipment_telemetry --service current|history|usage
#               python manage.py consume_equipment_registry
#   simulator:  python manage.py simulate_fleet --machines 50 --rate 1 --around-the-clock
# It runs exactly the commands the README documents and the tests exercise. Secrets come from the
# environment at run time (compose: the .env file, see .env.example), never from the image; the build
# context leaves out .git, .venv, var/, .env and the tests (.dockerignore, tests/site/test_containers.py).
#
# The base image is pinned by digest (a tag moves; a digest names one image). This digest is the one
# two independent public repositories pin for python:3.11-slim (one through AWS's mirror of Docker's
# library). It could NOT be checked against Docker Hub from the development machines (no registry
# access there): verify it before the first build, and refresh it with
#   docker buildx imagetools inspect python:3.11-slim --format '{{json .Manifest.Digest}}'
# or override it: docker build --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest> .
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_DEBUG=0 \
    C40_RUN_DIR=/var/lib/c40 DJANGO_SQLITE_PATH=/var/lib/c40/django.sqlite3
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends tzdata && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
# An unprivileged user owns the data directory only; the code stays root's, read-only to the processes.
# Static files need no collectstatic: WhiteNoise serves them from the installed packages.
RUN groupadd --system --gid 10001 c40 \
    && useradd --system --uid 10001 --gid c40 --home-dir /var/lib/c40 --no-create-home --shell /usr/sbin/nologin c40 \
    && mkdir -p /var/lib/c40 && chown c40:c40 /var/lib/c40
COPY . .
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
# 8000: the web server (its /metrics too); 9100: a consumer's /metrics when METRICS_PORT=9100.
EXPOSE 8000 9100
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "telemetry_site.wsgi"]
