"""The admin under the ASGI server: its session writes and flash messages go through
the hop-free middleware (authsite/middleware.py) without a sync-in-async error."""

import re

import httpx2


def csrf_from(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_operator_logs_in_lists_users_and_runs_an_action(e2e_database, api_server):
    e2e_database.run_manage(
        "createsuperuser",
        "--noinput",
        "--email",
        "root@operators.example",
        env={"DJANGO_SUPERUSER_PASSWORD": "a-long-operator-password"},
    )
    with httpx2.Client(base_url=api_server.url, timeout=10) as http:
        page = http.get("/admin/login/")
        assert page.status_code == 200
        logged_in = http.post(
            "/admin/login/",
            data={
                "csrfmiddlewaretoken": csrf_from(page.text),
                "username": "root@operators.example",
                "password": "a-long-operator-password",
                "next": "/admin/",
            },
            headers={"Referer": api_server.url + "/admin/login/"},
        )
        assert logged_in.status_code == 302, logged_in.text[:500]
        users = http.get("/admin/accounts/user/")
        assert users.status_code == 200
        assert "root@operators.example" in users.text
        # a change that adds a flash message: stored in the session on the way out
        organisations = http.get("/admin/organisations/organisation/add/")
        added = http.post(
            "/admin/organisations/organisation/add/",
            data={
                "csrfmiddlewaretoken": csrf_from(organisations.text),
                "name": "Initech",
                "slug": "initech",
                "subscription_plan": "basic",
                "is_active": "on",
                "domains-TOTAL_FORMS": "0",
                "domains-INITIAL_FORMS": "0",
                "tool_access-TOTAL_FORMS": "0",
                "tool_access-INITIAL_FORMS": "0",
                "members-TOTAL_FORMS": "0",
                "members-INITIAL_FORMS": "0",
            },
            headers={"Referer": api_server.url + "/admin/organisations/organisation/add/"},
        )
        assert added.status_code == 302, added.text[:2000]
        listing = http.get(added.headers["location"])
        assert "Initech" in listing.text
        assert "was added successfully" in listing.text
