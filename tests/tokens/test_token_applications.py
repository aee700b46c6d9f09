"""The applications a pair from POST /api/v1/auth/token lists are the caller's at that
moment: a tool withdrawn or granted again since the last pair shows in the next one."""

from accounts.tokens import access as access_tokens
from organisations.models import UserApplicationAccess

from .kit import bearer, issue_pair, post_json

TOKEN = "/api/v1/auth/token"


def apps_of(response):
    assert response.status_code == 200
    return access_tokens.unverified_claims(response.json()["access_token"])["apps"]


def test_each_pair_lists_the_applications_the_caller_has_then(client, user):
    access_token = issue_pair(user)["access_token"]
    assert apps_of(post_json(client, TOKEN, **bearer(access_token))) == ["tokens-test-tool"]
    access = UserApplicationAccess.objects.get(user=user)
    access.has_access = False
    access.save()
    assert apps_of(post_json(client, TOKEN, **bearer(access_token))) == []
    access.has_access = True
    access.save()
    assert apps_of(post_json(client, TOKEN, **bearer(access_token))) == ["tokens-test-tool"]
