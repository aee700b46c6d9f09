"""Failures of the identity-provider conversation, each with a stable code."""


class OIDCError(Exception):
    """A login cannot proceed. ``code`` is stable and shown to clients; ``status`` is
    400 when the request or token is at fault and 502 when the provider failed."""

    status = 400

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ProviderUnavailable(OIDCError):
    """The identity provider did not answer, answered an error, or answered nonsense."""

    status = 502

    def __init__(self, reason: str):
        super().__init__("idp_unavailable", reason)


class InvalidToken(OIDCError):
    """A token from the provider failed a check (signature, issuer, audience, …)."""

    def __init__(self, reason: str, code: str = "invalid_id_token"):
        super().__init__(code, reason)
