"""A bare Django 6.1 project in one module: settings, URLconf, one sync view returning a
small JSON object, and the ASGI and WSGI applications. No database, no app code.

REFERENCE_MIDDLEWARE=default gives `startproject`'s middleware list; =none gives none.
It measures what Django itself costs on this machine under each server, so that the
authsite numbers can be read against it (the goals quote such numbers as their start).
"""

import os

from django.http import JsonResponse
from django.urls import path

SECRET_KEY = "reference-benchmark-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = __name__
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
]
DEFAULT_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
MIDDLEWARE = DEFAULT_MIDDLEWARE if os.environ.get("REFERENCE_MIDDLEWARE") != "none" else []


def hello(request):
    return JsonResponse({"message": "hello", "ok": True})


urlpatterns = [path("json", hello), path("healthz", hello)]
