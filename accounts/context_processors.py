"""Template context for the project's own pages."""

from . import app_settings


def identity_provider(request) -> dict:
    """The identity provider's name, for the admin's "Continue with …" sign-in."""
    return {"identity_provider_name": app_settings.provider_name()}
