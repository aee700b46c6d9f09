"""WSGI entry point, kept for comparison benchmarks and for hosts without ASGI."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")

application = get_wsgi_application()

from authsite.process import freeze_loaded_objects  # noqa: E402

freeze_loaded_objects()
