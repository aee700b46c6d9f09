"""Template context for the project's own pages."""

from django.conf import settings

from . import app_settings


def admin_sign_in(request) -> dict:
    """What the admin's login page offers: "Continue with" the identity provider, named
    here, and the password form when ADMIN_PASSWORD_LOGIN is on."""
    return {
        "identity_provider_name": app_settings.provider_name(),
        "admin_password_login": settings.ADMIN_PASSWORD_LOGIN,
    }
