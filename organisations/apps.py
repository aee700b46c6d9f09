from django.apps import AppConfig


class OrganisationsConfig(AppConfig):
    name = "organisations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import access_cache

        access_cache.connect()
