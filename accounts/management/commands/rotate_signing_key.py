"""manage.py rotate_signing_key: make a new signing key current; the old one stays
published until every token it signed has expired."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from accounts import keys


class Command(BaseCommand):
    help = (
        "Make a new signing key (SIGNING_KEY_ALGORITHM) current for app access tokens. "
        "The previous key stays in /.well-known/jwks.json until its tokens have expired."
    )

    def handle(self, *args, **options):
        try:
            new, retired = keys.rotate_signing_key()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        except IntegrityError:
            raise CommandError(
                "Another rotation finished at the same moment; nothing was changed by this "
                "one. Run the command again if a further rotation is wanted."
            ) from None
        self.stdout.write(f"New current signing key {new.kid} ({new.algorithm}).")
        if retired is None:
            self.stdout.write("There was no previous key.")
        else:
            until = retired.retired_at + keys.publication_window()
            self.stdout.write(
                f"Retired key {retired.kid} stays published until "
                f"{until:%Y-%m-%d %H:%M:%S} UTC (ACCESS_TOKEN_TTL={settings.ACCESS_TOKEN_TTL}s "
                f"+ {keys.PUBLISH_LEEWAY}s)."
            )
