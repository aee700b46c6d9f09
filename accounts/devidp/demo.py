"""The demo tenants and people shared by `manage.py seed_demo` and the local development
identity provider, so that a demo person who logs in lands on their seeded account
(linked by verified email, keeping the seeded role and organisation)."""

DEMO_ORGANISATIONS = [
    {
        "slug": "acme",
        "name": "Acme Analytics",
        "auth0_org_id": "org_acme",
        "domain": "acme.example",
        "subscription_plan": "enterprise",
        "industry": "Retail",
    },
    {
        "slug": "globex",
        "name": "Globex Corporation",
        "auth0_org_id": "org_globex",
        "domain": "globex.example",
        "subscription_plan": "professional",
        "industry": "Manufacturing",
    },
]

# role "super_admin" has no organisation; the others belong to the named one.
DEMO_PEOPLE = [
    {
        "sub": "devidp|alice",
        "email": "alice@acme.example",
        "name": "Alice Admin",
        "role": "admin",
        "organisation": "acme",
    },
    {
        "sub": "devidp|anna",
        "email": "anna@acme.example",
        "name": "Anna Analyst",
        "role": "analyst",
        "organisation": "acme",
    },
    {
        "sub": "devidp|victor",
        "email": "victor@acme.example",
        "name": "Victor Viewer",
        "role": "viewer",
        "organisation": "acme",
    },
    {
        "sub": "devidp|gina",
        "email": "gina@globex.example",
        "name": "Gina Globex",
        "role": "admin",
        "organisation": "globex",
    },
    {
        "sub": "devidp|gus",
        "email": "gus@globex.example",
        "name": "Gus Viewer",
        "role": "viewer",
        "organisation": "globex",
    },
    {
        "sub": "devidp|sam",
        "email": "sam@operators.example",
        "name": "Sam Super",
        "role": "super_admin",
        "organisation": None,
    },
]

DEMO_FLAGS = [
    {"key": "new_dashboard", "name": "New dashboard", "enabled": True, "rollout_percentage": 100},
    {"key": "beta_exports", "name": "Beta exports", "enabled": True, "rollout_percentage": 50},
    {"key": "ai_insights", "name": "AI insights", "enabled": False, "rollout_percentage": 0},
]

DEMO_OPERATOR = {"email": "operator@operators.example", "password": "operator-demo-password"}

DEV_CLIENT_ID = "devidp-client"
DEV_CLIENT_SECRET = "devidp-client-secret"  # the development identity provider's only
