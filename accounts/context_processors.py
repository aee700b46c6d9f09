"""Template context for the project's own pages."""

from django.conf import settings

from . import app_settings


def admin_sign_in(request) -> dict:
    """Return what the admin's login page offers: "Continue with" the identity provider,
    named here (asking at once for a multi-factor login when the admin needs one), and
    the password form when ADMIN_PASSWORD_LOGIN is on."""
    return {
        "identity_provider_name": app_settings.provider_name(),
        "admin_password_login": settings.ADMIN_PASSWORD_LOGIN,
        "admin_mfa_required": settings.ADMIN_MFA_REQUIRED,
    }
