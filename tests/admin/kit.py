"""Signing in to the admin without the identity provider, for tests of what happens
inside it (tests/login/test_admin_sign_in.py and the browser tests go through the
provider)."""

import time

from accounts.login import step_up


def sign_in(client, user, *, amr=("mfa",), acr=None, auth_time=None):
    """Log ``client`` in as ``user`` as a login through the identity provider would, with
    that login's ``amr``, ``acr`` and ``auth_time`` (by default: multi-factor, just now)."""
    client.force_login(user)
    session = client.session
    session[step_up.SESSION_KEY] = {
        "amr": list(amr),
        "acr": acr,
        "auth_time": int(time.time()) if auth_time is None else auth_time,
    }
    session.save()
    return client
