# One image, three roles; the command picks the role (see compose.yaml):
#   web:        gunicorn -c deploy/gunicorn.conf.py telemetry_site.wsgi   (0.0.0.0:8000, 4 workers)
#   consumer:   python manage.py consume_equipment_telemetry --service current|history|usage
#               python manage.py consume_equipment_registry
#   simulator:  python manage.py simulate_fleet --machines 50 --rate 1 --around-the-clock
# It runs exactly the commands the README documents and the tests exercise.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_DEBUG=0 C40_RUN_DIR=/var/lib/c40
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends tzdata && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN mkdir -p /var/lib/c40 && python manage.py collectstatic --noinput
# 8000: the web server (its /metrics too); 9100: a consumer's /metrics when METRICS_PORT=9100.
EXPOSE 8000 9100
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "telemetry_site.wsgi"]
