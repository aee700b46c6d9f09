"""ASGI entry point: uvicorn in development and tests, gunicorn with uvicorn workers in
production (see docs/operations.md)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")

application = get_asgi_application()
