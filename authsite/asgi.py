"""ASGI entry point: uvicorn in development and tests, gunicorn with uvicorn workers in
production (see docs/operations.md).

In front, the fast lane (authsite/fastlane/) answers GET /api/v1/auth/me with an app
access token on the event loop; every other request, and every one it does not answer
with a 200, goes to Django. Static files (the admin's and the offline API docs' assets)
are served by Django's ASGI static handler, which looks only at paths under STATIC_URL
and hands every other request straight to the application; a proxy in front may serve
/static/ instead.
"""

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from authsite.config import setup_server

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")

# What django.core.asgi.get_asgi_application does, with the project's handler; a
# configuration problem stops the process in one sentence.
setup_server(set_prefix=False)

from authsite.handler import ASGIHandler  # noqa: E402

django_application = ASGIHandler()

# Imported once Django is set up: the fast lane uses its models and settings.
from authsite.fastlane.app import FastLane  # noqa: E402

application = FastLane(ASGIStaticFilesHandler(django_application))

from authsite.process import freeze_loaded_objects  # noqa: E402

freeze_loaded_objects()
