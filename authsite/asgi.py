"""ASGI entry point: uvicorn in development and tests, gunicorn with uvicorn workers in
production (see docs/operations.md).

Static files (the admin's and the offline API docs' assets) are served by Django's
ASGI static handler, which looks only at paths under STATIC_URL and hands every other
request straight to the application; a proxy in front may serve /static/ instead.
"""

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")

application = ASGIStaticFilesHandler(get_asgi_application())
