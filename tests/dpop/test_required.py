"""DPOP_REQUIRED: a handoff redemption without a proof is refused, so that every refresh
token held by a browser's script is bound to a key. The code is not spent: the web app
may redeem it again, with a proof, within its minute."""

import pytest

from accounts.models import AuditEvent, HandoffCode, TokenFamily

from .kit import REFRESH, TOKEN, assert_dpop_refusal, issue, post, redeem

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def required(settings):
    settings.DPOP_REQUIRED = True


def test_a_redemption_without_a_proof_is_refused_and_spends_nothing(required, code, verifier, key):
    assert_dpop_refusal(redeem(code, verifier))
    assert HandoffCode.objects.get().used_at is None
    assert not TokenFamily.objects.exists()
    assert not AuditEvent.objects.exists()
    response = redeem(code, verifier, key.proof("POST", TOKEN))
    assert response.status_code == 200
    assert response.json()["token_type"] == "DPoP"


def test_a_redemption_with_a_bad_proof_is_refused(required, code, verifier, key):
    assert_dpop_refusal(redeem(code, verifier, key.proof("POST", REFRESH)))
    assert HandoffCode.objects.get().used_at is None


def test_a_wrong_verifier_with_a_proof_still_burns_the_code(required, code, key):
    """The code's own rules are unchanged: a wrong verifier spends it."""
    response = redeem(code, "not-the-verifier", key.proof("POST", TOKEN))
    assert response.status_code == 400
    assert HandoffCode.objects.get().used_at is not None


def test_without_dpop_required_a_redemption_without_a_proof_is_bearer(code, verifier):
    assert redeem(code, verifier).json()["token_type"] == "Bearer"


def test_unbound_families_keep_refreshing_as_bearer(required, client, user):
    """The policy is for new browser logins; families issued before keep working."""
    pair = issue(user)
    response = post(client, REFRESH, {"refresh_token": pair["refresh_token"]})
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
