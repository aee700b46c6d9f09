"""`manage.py auth_doctor`: see accounts/ops/doctor/.

One line per check, then a summary line. Exit status 1 (`sys.exit(1)` after the report,
so `call_command` raises SystemExit(1)) when any check failed; warnings do not fail.
"""

import logging
import sys

from django.core.management.base import BaseCommand

from accounts.ops.doctor import base, report


class Command(BaseCommand):
    help = (
        "Check the Auth0 configuration end to end: settings, discovery, issuer, JWKS, client "
        "credentials, callback and logout URLs, back-channel logout, clock, cookie/CORS/CSRF "
        "coherence, signing key, audience. One verdict per line; exit 1 on any failure."
    )
    # The doctor runs the system checks itself and reports each as a line; Django's
    # run before the command would stop at the first Error before it is explained.
    requires_system_checks = []

    def handle(self, *args, **options):
        # The report says what each request did; httpx's per-request INFO lines on the
        # same terminal would only interleave with it.
        http_log = logging.getLogger("httpx2")
        level = http_log.level
        http_log.setLevel(max(level, logging.WARNING))
        try:
            checks = report.diagnose()
        finally:
            http_log.setLevel(level)
        for check in checks:
            self.stdout.write(check.line())
        self.stdout.write(base.summary(checks))
        if base.failed(checks):
            # Like `repair_schema --check`: a failed check is a result, not an error.
            sys.exit(1)
