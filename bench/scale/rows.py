"""The scale data set's rows, made by PostgreSQL itself (``INSERT … SELECT
generate_series``): deterministic, so that two builds of one version hold the same rows.

Every value is derived from a row's number through ``pg_temp.rnd(n, salt)``, a uniform
number in [0, 1) from PostgreSQL's integer hash. Times count back from ``%(now)s``, the
build's moment. A refresh token's plaintext is derived from its id (``plaintext``, and
``pg_temp.plaintext`` in SQL alike), so that the bench can present any token of the set
and a rotation finds its hash.

The people: ``hot`` members of the bench organisation (organisation 1, ``org_bench``),
``login<i>@bench.example`` with the identity ``bench|login<i>`` that the bench's identity
provider logs in (``bench.idp_server``), then that organisation's admin, two super
admins, and everyone else spread evenly over the other organisations, the first of each
its admin. Each person's first token family is live for the hot people; the other
families are 60% expired, 25% revoked and 15% live, 1 to 7 tokens each (4 on average),
every token but a family's newest spent by the rotation that made its child.
"""

import base64
import hashlib

PLAINTEXT_SALT = "bench-scale-token:"
REFRESH_TTL_DAYS = 30  # settings.REFRESH_TOKEN_TTL's default, which the bench keeps
# Tokens per family, by family number modulo 8: 32 tokens per 8 families.
CHAIN = (1, 2, 3, 4, 4, 5, 6, 7)
CHAIN_OFFSET = (0, 1, 3, 6, 10, 14, 19, 25)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "analytics-sync/2.4 python-httpx/0.27",
)
HOT_ISSUER = "http://127.0.0.1:1/"  # rewritten to the run's provider (dataset.point_hot_identities)
OTHER_ISSUER = "https://scale-tenant.eu.auth0.com/"


def plaintext(token_id: int) -> str:
    """Return the plaintext of the data set's refresh token ``token_id``: 43 URL-safe
    characters, as ``secrets.token_urlsafe(32)`` makes them."""
    digest = hashlib.sha256(f"{PLAINTEXT_SALT}{token_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


FUNCTIONS = f"""
CREATE FUNCTION pg_temp.rnd(n bigint, salt int) RETURNS float8 IMMUTABLE LANGUAGE sql AS
  $$ SELECT (hashint8(n * 1000 + salt) & 2147483647)::float8 / 2147483648.0 $$;
CREATE FUNCTION pg_temp.pick(n bigint, salt int, options text[]) RETURNS text IMMUTABLE
  LANGUAGE sql AS
  $$ SELECT options[1 + floor(pg_temp.rnd(n, salt) * array_length(options, 1))::int] $$;
CREATE FUNCTION pg_temp.plaintext(id bigint) RETURNS text IMMUTABLE LANGUAGE sql AS
  $$ SELECT rtrim(translate(encode(sha256(convert_to('{PLAINTEXT_SALT}' || id, 'UTF8')),
                                   'base64'), '+/', '-_'), '=') $$;
CREATE FUNCTION pg_temp.org_of(u bigint, hot int, orgs int) RETURNS bigint IMMUTABLE
  LANGUAGE sql AS
  $$ SELECT CASE WHEN u <= hot + 1 THEN 1 WHEN u <= hot + 3 THEN NULL
                 ELSE 2 + (u - hot - 4) %% (orgs - 1) END $$;
CREATE FUNCTION pg_temp.chain(f bigint) RETURNS int IMMUTABLE LANGUAGE sql AS
  $$ SELECT (ARRAY{list(CHAIN)})[1 + (f - 1) %% 8] $$;
CREATE FUNCTION pg_temp.first_token(f bigint) RETURNS bigint IMMUTABLE LANGUAGE sql AS
  $$ SELECT 32 * ((f - 1) / 8) + (ARRAY{list(CHAIN_OFFSET)})[1 + (f - 1) %% 8] + 1 $$;
CREATE FUNCTION pg_temp.family_uuid(f bigint) RETURNS uuid IMMUTABLE LANGUAGE sql AS
  $$ SELECT md5('bench-scale-family:' || f)::uuid $$;
"""

ORGANISATIONS = """
INSERT INTO organisations_organisation (id, name, slug, auth0_org_id, industry,
    subscription_plan, is_active, created_at, updated_at, access_pending)
SELECT n,
       CASE WHEN n = 1 THEN 'Bench Analytics' ELSE 'Organisation ' || n END,
       CASE WHEN n = 1 THEN 'bench' ELSE 'org-' || n END,
       CASE WHEN n = 1 THEN 'org_bench'
            WHEN n %% 2 = 0 THEN 'org_' || left(md5('org' || n), 16) END,
       pg_temp.pick(n, 1, ARRAY['Retail', 'Finance', 'Health', 'Energy', 'Media', '']),
       CASE WHEN n = 1 THEN 'enterprise'
            ELSE pg_temp.pick(n, 2, ARRAY['basic', 'basic', 'professional', 'enterprise']) END,
       n = 1 OR n %% 100 <> 0,
       %(now)s - pg_temp.rnd(n, 3) * interval '1000 days',
       %(now)s - pg_temp.rnd(n, 4) * interval '100 days',
       false
FROM generate_series(1, %(organisations)s) n
"""

# Users 1..hot: the bench's people; hot+1: the bench organisation's admin; hot+2, hot+3:
# super admins; then everyone else.
USERS = """
INSERT INTO accounts_user (id, password, last_login, is_superuser, email, name, picture,
    email_verified, role, is_active, is_staff, created_at, updated_at, organisation_id,
    access_pending)
SELECT n, '!' || md5('password' || n), %(now)s - pg_temp.rnd(n, 5) * interval '90 days',
       false, email, name, '', true, role,
       n <= %(hot)s + 3 OR n %% 50 <> 0,
       role IN ('admin', 'super_admin'),
       %(now)s - interval '1 day' - pg_temp.rnd(n, 6) * interval '900 days',
       %(now)s - pg_temp.rnd(n, 7) * interval '30 days',
       pg_temp.org_of(n, %(hot)s, %(organisations)s), false
FROM generate_series(1, %(users)s) n,
LATERAL (SELECT
    CASE WHEN n <= %(hot)s THEN 'login' || (n - 1) || '@bench.example'
         WHEN n = %(hot)s + 1 THEN 'admin@bench.example'
         WHEN n <= %(hot)s + 3 THEN 'root' || (n - %(hot)s - 1) || '@operators.example'
         ELSE 'person' || n || '@org-' || pg_temp.org_of(n, %(hot)s, %(organisations)s)
              || '.example' END AS email,
    CASE WHEN n <= %(hot)s THEN 'Bench Login ' || (n - 1) ELSE 'Person ' || n END AS name,
    CASE WHEN n <= %(hot)s THEN 'viewer'
         WHEN n = %(hot)s + 1 THEN 'admin'
         WHEN n <= %(hot)s + 3 THEN 'super_admin'
         WHEN n - %(hot)s - 4 < %(organisations)s - 1 THEN 'admin'
         ELSE pg_temp.pick(n, 8, ARRAY['viewer', 'viewer', 'viewer', 'analyst']) END AS role
) person
"""

IDENTITIES = f"""
INSERT INTO accounts_externalidentity (id, issuer, subject, last_login_at, claims,
    created_at, user_id)
SELECT u.id, issuer, subject, u.last_login,
       jsonb_build_object('iss', issuer, 'sub', subject, 'email', u.email,
                          'email_verified', true, 'name', u.name, 'sid', md5('sid' || u.id)),
       u.created_at, u.id
FROM accounts_user u,
LATERAL (SELECT
    CASE WHEN u.id <= %(hot)s THEN '{HOT_ISSUER}' ELSE '{OTHER_ISSUER}' END AS issuer,
    CASE WHEN u.id <= %(hot)s THEN 'bench|login' || (u.id - 1)
         ELSE 'auth0|' || left(md5('subject' || u.id), 24) END AS subject
) identity
"""

TOOL_ACCESS = """
INSERT INTO organisations_organisationtoolaccess (tier, features, limits, enabled,
    created_at, updated_at, organisation_id, tool_id)
SELECT CASE WHEN o.subscription_plan = 'enterprise' THEN 'enterprise' ELSE t.default_tier END,
       t.default_features, t.default_limits, true, o.created_at, o.created_at, o.id, t.id
FROM organisations_organisation o CROSS JOIN organisations_tool t
WHERE t.is_default AND t.is_active
ORDER BY o.id, t.id
"""

APPLICATION_ACCESS = """
INSERT INTO user_application_access (has_access, granted_at, granted_by_id, tool_id, user_id)
SELECT u.id <= %(hot)s OR pg_temp.rnd(u.id * 10 + t.id, 9) > 0.05, u.created_at, NULL,
       t.id, u.id
FROM accounts_user u CROSS JOIN organisations_tool t
WHERE t.is_default AND t.is_active AND u.organisation_id IS NOT NULL
ORDER BY u.id, t.id
"""

FLAGS = """
INSERT INTO organisations_featureflag (id, key, name, description, enabled,
    rollout_percentage, created_at, updated_at)
SELECT n, 'flag-' || lpad(n::text, 2, '0'), 'Feature ' || n, '', n %% 3 <> 0,
       (n * 17) %% 101, %(now)s - n * interval '7 days', %(now)s - n * interval '1 day'
FROM generate_series(1, %(flags)s) n
"""

# Two flags per organisation (never the same one: 6o + 3 is odd, 50 | it never holds).
ORGANISATION_OVERRIDES = """
INSERT INTO organisations_organisationfeatureoverride (enabled, expires_at, flag_id,
    organisation_id)
SELECT pg_temp.rnd(o * 2 + k, 10) < 0.7,
       CASE WHEN pg_temp.rnd(o * 2 + k, 11) < 0.2
            THEN %(now)s + (pg_temp.rnd(o * 2 + k, 12) - 0.5) * interval '60 days' END,
       CASE WHEN k = 0 THEN 1 + o %% %(flags)s ELSE 1 + (7 * o + 3) %% %(flags)s END, o
FROM generate_series(1, %(organisations)s) o, generate_series(0, 1) k
"""

USER_OVERRIDES = """
INSERT INTO organisations_userfeatureoverride (enabled, expires_at, flag_id, user_id)
SELECT pg_temp.rnd(u, 13) < 0.5,
       CASE WHEN pg_temp.rnd(u, 14) < 0.3
            THEN %(now)s + (pg_temp.rnd(u, 15) - 0.5) * interval '60 days' END,
       1 + (u / 10) %% %(flags)s, u
FROM generate_series(10, %(users)s, 10) u
"""

# A family's state by number: each hot person's first family is live; the rest are 60%
# expired, 25% revoked, 15% live. ``head`` is when its newest token was made, ``step``
# how long each token lived before its rotation.
FAMILY_STATE = """
SELECT f, ((f - 1) %% %(users)s) + 1 AS user_id, pg_temp.chain(f) AS k,
       interval '15 minutes' * (1 + 190 * pg_temp.rnd(f, 21) ^ 2) AS step,
       CASE WHEN f <= %(hot)s OR pg_temp.rnd(f, 20) >= 0.85 THEN 'live'
            WHEN pg_temp.rnd(f, 20) < 0.6 THEN 'expired' ELSE 'revoked' END AS state
FROM generate_series(1, %(families)s) f
"""

FAMILIES = f"""
INSERT INTO accounts_tokenfamily (id, session_key, created_at, revoked_at, revoke_reason,
    user_id, ip, user_agent, dpop_jkt)
SELECT pg_temp.family_uuid(f),
       CASE WHEN pg_temp.rnd(f, 22) < 0.5 THEN left(md5('session' || f), 32) ELSE '' END,
       head - (k - 1) * step,
       CASE WHEN state = 'revoked'
            THEN least(%(now)s, head + pg_temp.rnd(f, 23) * interval '2 days') END,
       CASE WHEN state = 'revoked' THEN pg_temp.pick(f, 24,
            ARRAY['logout', 'logout', 'logout', 'ended', 'reuse', 'admin_revoked',
                  'deactivated', 'revoked']) ELSE '' END,
       user_id, ('10.' || f %% 200 || '.' || (f / 200) %% 250 || '.' || f %% 250)::inet,
       pg_temp.pick(f, 25, ARRAY{list(USER_AGENTS)}), ''
FROM ({FAMILY_STATE}) family,
LATERAL (SELECT CASE state
    WHEN 'live' THEN %(now)s - pg_temp.rnd(f, 26) * interval '3 days'
    WHEN 'expired' THEN %(now)s - interval '{REFRESH_TTL_DAYS} days'
                        - interval '1 hour' - pg_temp.rnd(f, 26) * interval '335 days'
    ELSE %(now)s - pg_temp.rnd(f, 26) * interval '365 days' END AS head
) newest
"""

TOKENS = f"""
INSERT INTO accounts_refreshtoken (id, token_hash, created_at, expires_at, used_at,
    revoked_at, parent_id, family_id)
SELECT token.id, encode(sha256(convert_to(pg_temp.plaintext(token.id), 'UTF8')), 'hex'),
       made, made + interval '{REFRESH_TTL_DAYS} days',
       CASE WHEN j < k THEN made + step END, NULL,
       CASE WHEN j > 1 THEN token.id - 1 END, tf.id
FROM ({FAMILY_STATE}) family
JOIN accounts_tokenfamily tf ON tf.id = pg_temp.family_uuid(f),
LATERAL generate_series(1, k) j,
LATERAL (SELECT pg_temp.first_token(f) + j - 1 AS id,
                tf.created_at + (j - 1) * step AS made) token
"""

AUDIT_TYPES = (
    ("token_refreshed", 0.70),
    ("token_issued", 0.08),
    ("login_succeeded", 0.10),
    ("logout", 0.04),
    ("token_revoked", 0.02),
    ("login_failed", 0.02),
    ("session_ended", 0.015),
    ("token_reused", 0.005),
    ("access_changed", 0.01),
    ("role_changed", 0.01),
)

# Each type from its share of the cumulative distribution.
_AUDIT_TYPE = (
    "CASE "
    + " ".join(
        f"WHEN r < {sum(share for _, share in AUDIT_TYPES[: i + 1]):.4f} THEN '{name}'"
        for i, (name, _) in enumerate(AUDIT_TYPES[:-1])
    )
    + f" ELSE '{AUDIT_TYPES[-1][0]}' END"
)

# Spread evenly over 400 days, oldest first; the person concerned at random (none for a
# failed login), with their organisation.
AUDIT = f"""
INSERT INTO accounts_auditevent (id, type, ip, user_agent, details, created_at,
    organisation_id, user_id)
SELECT n, type, ('10.' || n %% 200 || '.' || (n / 200) %% 250 || '.' || n %% 250)::inet,
       pg_temp.pick(n, 31, ARRAY{list(USER_AGENTS)}),
       CASE type
         WHEN 'token_refreshed' THEN jsonb_build_object('family', pg_temp.family_uuid(f),
              'token', 2 * n, 'presented', 2 * n - 1, 'grace', false)
         WHEN 'token_issued' THEN jsonb_build_object('family', pg_temp.family_uuid(f),
              'token', 2 * n, 'grant', 'api')
         WHEN 'login_succeeded' THEN jsonb_build_object('issuer', '{OTHER_ISSUER}',
              'sub', 'auth0|' || left(md5('subject' || u), 24), 'new_identity', false)
         WHEN 'login_failed' THEN jsonb_build_object('error', 'invalid_state')
         ELSE jsonb_build_object('family', pg_temp.family_uuid(f)) END,
       %(now)s - interval '400 days' * (%(audit)s - n) / %(audit)s,
       CASE WHEN type <> 'login_failed' THEN pg_temp.org_of(u, %(hot)s, %(organisations)s) END,
       CASE WHEN type <> 'login_failed' THEN u END
FROM generate_series(1, %(audit)s) n,
LATERAL (SELECT pg_temp.rnd(n, 30) AS r,
                1 + floor(pg_temp.rnd(n, 32) * %(users)s)::bigint AS u,
                1 + floor(pg_temp.rnd(n, 33) * %(families)s)::bigint AS f) drawn,
LATERAL (SELECT {_AUDIT_TYPE} AS type) kind
"""

# In dependency order; each (table, statement).
STEPS = (
    ("organisations_organisation", ORGANISATIONS),
    ("accounts_user", USERS),
    ("accounts_externalidentity", IDENTITIES),
    ("organisations_organisationtoolaccess", TOOL_ACCESS),
    ("user_application_access", APPLICATION_ACCESS),
    ("organisations_featureflag", FLAGS),
    ("organisations_organisationfeatureoverride", ORGANISATION_OVERRIDES),
    ("organisations_userfeatureoverride", USER_OVERRIDES),
    ("accounts_tokenfamily", FAMILIES),
    ("accounts_refreshtoken", TOKENS),
    ("accounts_auditevent", AUDIT),
)
