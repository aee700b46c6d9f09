"""WSGI entry point, kept for comparison benchmarks and for hosts without ASGI."""

import os

from django.core.handlers.wsgi import WSGIHandler

from authsite.config import setup_server

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")

# What django.core.wsgi.get_wsgi_application does; a configuration problem stops the
# process in one sentence.
setup_server()
application = WSGIHandler()

from authsite.process import freeze_loaded_objects  # noqa: E402

freeze_loaded_objects()
