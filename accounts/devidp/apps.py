from django.apps import AppConfig


class DevIdpConfig(AppConfig):
    name = "accounts.devidp"
    label = "devidp"
    verbose_name = "Development identity provider and demo"
