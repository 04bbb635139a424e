"""WSGI entry point: ``gunicorn telemetry_site.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemetry_site.settings")
# The production entry point: DEBUG off unless the environment turns it on (manage.py keeps the
# development default), so the settings then require a real DJANGO_SECRET_KEY.
os.environ.setdefault("DJANGO_DEBUG", "0")

application = get_wsgi_application()
