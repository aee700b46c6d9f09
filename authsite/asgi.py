"""ASGI entry point: uvicorn in development and tests, gunicorn with uvicorn workers in
production (see docs/operations.md).

In front, the fast lane (authsite/fastlane/) answers GET /api/v1/auth/me with an app
access token on the event loop; every other request, and every one it does not answer
with a 200, goes to Django. Static files (the admin's and the offline API docs' assets)
are a view of Django's like any other (authsite/urls.py), so they carry the same
security headers; a proxy in front may serve /static/ instead.
"""

import os

from authsite.config import setup_server

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")

# What django.core.asgi.get_asgi_application does, with the project's handler; a
# configuration problem stops the process in one sentence.
setup_server(set_prefix=False)

from authsite.handler import ASGIHandler  # noqa: E402

django_application = ASGIHandler()

# Imported once Django is set up: the fast lane uses its models and settings.
from authsite.fastlane.app import FastLane  # noqa: E402

application = FastLane(django_application)

from authsite.process import freeze_loaded_objects  # noqa: E402

freeze_loaded_objects()
