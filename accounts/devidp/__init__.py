"""Development-only code, in one place: the local OpenID Connect identity provider that
stands in for Auth0 (provider.py and its mixins, served by server.py or by
`python -m accounts.devidp`), the demo data (demo.py), and the `rundev` and `seed_demo`
commands.

Installed only with DEBUG=true, and by the test settings. Where Django's settings are
configured without it, importing it raises ImportError (docs/architecture.md says why).

May import: accounts.models, organisations.
"""

from django.conf import settings

if settings.configured and not any(
    app == __name__ or app.startswith(f"{__name__}.") for app in settings.INSTALLED_APPS
):
    raise ImportError("The development identity provider is for development only: set DEBUG=true.")
