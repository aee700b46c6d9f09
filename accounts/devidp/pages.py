"""The few HTML pages a person sees at the development identity provider. Every value
is escaped: parameters come straight from the browser's address bar."""

from collections.abc import Iterable
from html import escape

_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 34rem; margin: 3rem auto; padding: 0 1rem;
       color: #1d2433; }
h1 { font-size: 1.4rem; }
.note { color: #5b6475; font-size: .9rem; }
form { margin: 1.5rem 0; }
button { display: block; width: 100%; text-align: left; margin: .5rem 0; padding: .7rem 1rem;
         font: inherit; background: #f4f6fb; border: 1px solid #cdd3e0; border-radius: .5rem;
         cursor: pointer; }
button:hover, button:focus { background: #e4e9f5; border-color: #7d8bb0; }
.who { font-weight: 600; }
.mfa { display: block; margin: .5rem 0 1rem; }
.detail { display: block; color: #5b6475; font-size: .9rem; }
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>\n"
    )


def chooser(params: dict[str, str], users: Iterable[dict], *, mfa: bool) -> str:
    """Return the "Choose a demo user" page: one button per user, posting the original
    authorization request back to /authorize together with the chosen `sub`, and a
    "Sign in with MFA" box (`mfa`), ticked when the application asked for a multi-factor
    login."""
    hidden = "".join(
        f'<input type=hidden name="{escape(name)}" value="{escape(value)}">'
        for name, value in params.items()
    )
    buttons = "".join(
        f'<button type=submit name=sub value="{escape(user["sub"])}">'
        f"<span class=who>{escape(user['name'])}</span>"
        f"<span class=detail>{escape(user.get('email') or user['sub'])}"
        f"{escape(' · ' + user['org_name']) if user.get('org_name') else ''}</span></button>"
        for user in users
    )
    checkbox = (
        f"<label class=mfa><input type=checkbox name=mfa{' checked' if mfa else ''}> "
        "Sign in with MFA (as if a second factor was confirmed)</label>"
    )
    asked = "<p class=note>The application asks for a multi-factor login.</p>" if mfa else ""
    return _page(
        "Choose a demo user",
        f"<p>Signing in to <b>{escape(params['client_id'])}</b>.</p>{asked}"
        f'<form method=post action="authorize">{hidden}{checkbox}{buttons}</form>'
        "<p class=note>This is the development identity provider: anyone may sign in as "
        "anyone. It only runs with DEBUG=true.</p>",
    )


def error(message: str) -> str:
    return _page("Cannot sign in", f"<p>{escape(message)}</p>")


def logged_out() -> str:
    return _page("You are logged out", "<p>You may close this window.</p>")
