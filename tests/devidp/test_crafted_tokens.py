"""The helpers tests use to craft hostile tokens: each must be exactly the attack it names."""

import base64
import hashlib
import hmac
import json

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, UnsupportedAlgorithmError
from joserfc.jwk import KeySet

from tests.devidp.helpers import header
from tests.idp import CLIENT_ID

BACKCHANNEL = "http://schemas.openid.net/event/backchannel-logout"


def _segments(token):
    return [base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split(".")]


def _jwks(idp):
    return KeySet.import_key_set(idp.jwks())


def test_sign_uses_the_current_key_and_takes_header_overrides(idp):
    token = idp.sign({"sub": "x"}, header={"kid": None, "typ": "at+jwt"})

    assert header(token) == {"alg": "RS256", "typ": "at+jwt"}
    assert jwt.decode(token, idp.current_key, algorithms=["RS256"]).claims == {"sub": "x"}


def test_unsigned_is_alg_none_with_an_empty_signature(idp):
    token = idp.unsigned({"sub": "x"})

    head, payload, signature = _segments(token)
    assert json.loads(head)["alg"] == "none"
    assert json.loads(payload) == {"sub": "x"}
    assert signature == b"" and token.endswith(".")
    with pytest.raises(UnsupportedAlgorithmError):
        jwt.decode(token, _jwks(idp), algorithms=["RS256"])


def test_hs256_token_is_keyed_with_the_public_key_pem(idp):
    token = idp.sign_hs256_with_public_key({"sub": "x"})

    signing_input = token.rpartition(".")[0]
    secret = idp.current_key.as_pem(private=False)
    expected = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert _segments(token)[2] == expected
    assert header(token)["alg"] == "HS256"
    with pytest.raises(UnsupportedAlgorithmError):
        jwt.decode(token, _jwks(idp), algorithms=["RS256"])


def test_foreign_key_signatures_do_not_verify(idp):
    token = idp.sign({"sub": "x"}, {"kid": idp.current_key.kid}, key=idp.foreign_key())

    assert idp.foreign_key().kid not in {key.kid for key in _jwks(idp).keys}
    with pytest.raises(BadSignatureError):
        jwt.decode(token, _jwks(idp), algorithms=["RS256"])


def test_logout_token_is_a_back_channel_logout_jwt(idp):
    token = idp.logout_token(sub="auth0|bob", sid="sid-1")

    claims = jwt.decode(token, _jwks(idp), algorithms=["RS256"]).claims
    assert header(token)["typ"] == "logout+jwt"
    assert claims["iss"] == idp.issuer
    assert claims["aud"] == CLIENT_ID
    assert claims["events"] == {BACKCHANNEL: {}}
    assert (claims["sub"], claims["sid"]) == ("auth0|bob", "sid-1")
    assert claims["exp"] > claims["iat"]
    assert "nonce" not in claims
    assert claims["jti"] != jwt.decode(idp.logout_token(sid="sid-1"), _jwks(idp)).claims["jti"]


def test_logout_token_overrides_set_and_remove_claims(idp):
    token = idp.logout_token(sid="sid-1", audience="other", events=None, nonce="n")

    claims = jwt.decode(token, _jwks(idp), algorithms=["RS256"]).claims
    assert "sub" not in claims and "events" not in claims
    assert (claims["aud"], claims["nonce"]) == ("other", "n")


def test_logout_token_header_can_lose_its_type(idp):
    token = idp.logout_token(sub="auth0|bob", header={"typ": None})

    assert "typ" not in header(token)
