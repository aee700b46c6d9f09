"""A person-readable summary of a User-Agent header, such as "Firefox on Windows".

The header is whatever the client chose to send, so the summary says what the client
claims to be, nothing more. A few tokens name the browsers and systems people use; a
program that is not a browser is named by its first product token ("curl", say).
"""

import re

# Checked in order: browsers built on Chrome also name Chrome and Safari, and Chrome
# names Safari, so the more specific token comes first.
_BROWSERS = (
    (("Edg/", "EdgA/", "EdgiOS/"), "Edge"),
    (("OPR/", "Opera"), "Opera"),
    (("SamsungBrowser/",), "Samsung Internet"),
    (("Firefox/", "FxiOS/"), "Firefox"),
    (("HeadlessChrome/",), "Headless Chrome"),
    (("CriOS/",), "Chrome"),
    (("Chromium/",), "Chromium"),
    (("Chrome/",), "Chrome"),
)
# Likewise: Android and ChromeOS name Linux, iOS names "like Mac OS X".
_SYSTEMS = (
    (("Windows",), "Windows"),
    (("iPhone", "iPod"), "iOS"),
    (("iPad",), "iPadOS"),
    (("Android",), "Android"),
    (("CrOS",), "ChromeOS"),
    (("Macintosh", "Mac OS X"), "macOS"),
    (("Linux",), "Linux"),
)
_PRODUCT = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,39}")
UNKNOWN = "Unknown client"


def _first(user_agent: str, table) -> str | None:
    for tokens, name in table:
        if any(token in user_agent for token in tokens):
            return name
    return None


def _browser(user_agent: str) -> str | None:
    browser = _first(user_agent, _BROWSERS)
    if browser is None and "Safari/" in user_agent and "Version/" in user_agent:
        browser = "Safari"
    if browser is None and not user_agent.startswith("Mozilla/"):
        product = _PRODUCT.match(user_agent)
        browser = product.group(0) if product else None
    return browser


def summarise(user_agent: str) -> str:
    """Return "<browser> on <system>", or as much of it as the header tells, or
    "Unknown client"."""
    browser = _browser(user_agent)
    system = _first(user_agent, _SYSTEMS)
    if browser and system:
        return f"{browser} on {system}"
    if browser:
        return browser
    if system:
        return f"A browser on {system}"
    return UNKNOWN
