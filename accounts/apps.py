from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from . import backends, logcontext
        from .ops import checks  # noqa: F401  (registers the system checks)

        user_logged_in.connect(logcontext.note_logged_in, dispatch_uid="accounts.logcontext")
        # Django's receiver, replaced under its own dispatch_uid by one writing the same.
        user_logged_in.disconnect(dispatch_uid="update_last_login")
        user_logged_in.connect(backends.update_last_login, dispatch_uid="update_last_login")


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin with this project's site: entry by role, step-up to a
    multi-factor login, sign-in through the identity provider."""

    default = False
    default_site = "accounts.admin_site.AdminSite"
