"""The cookie writer: one place that decides the attributes of every cookie the project
sets or deletes.

- `SameSite` from COOKIE_SAMESITE; left out for user agents that mishandle `None`
  (Chromium's published list of incompatible clients), where sending it would make
  them drop the cookie or treat it as Strict and break login.
- `Secure` from COOKIE_SECURE; `HttpOnly` always: every cookie the project sets carries
  a secret or a binding and no script needs to read one (the web app gets the CSRF
  token from GET /api/v1/auth/csrf).
- `Partitioned` (CHIPS) when COOKIE_PARTITIONED is on, on deletions too: a browser only
  deletes a partitioned cookie with a Set-Cookie that is itself partitioned. Python's
  Morsel cannot write the attribute before 3.14 and Django 6.1 has no parameter for
  it, so cookies are re-written with a Morsel that appends it.
"""

import re
from http.cookies import Morsel

_IOS = re.compile(r"\(iP.+; CPU .*OS (\d+)[_\d]*.*\) AppleWebKit/")
_MACOS = re.compile(r"\(Macintosh;.*Mac OS X (\d+)_(\d+)[_\d]*.*\) AppleWebKit/")
_SAFARI = re.compile(r"Version/.* Safari/")
_MAC_EMBEDDED = re.compile(
    r"^Mozilla/[\.\d]+ \(Macintosh;.*Mac OS X [_\d]+\) AppleWebKit/[\.\d]+ \(KHTML, like Gecko\)$"
)
_CHROMIUM = re.compile(r"Chrom(e|ium)")
_CHROMIUM_VERSION = re.compile(r"Chrom[^ /]+/(\d+)[\.\d]* ")
_UC = re.compile(r"UCBrowser/")
_UC_VERSION = re.compile(r"UCBrowser/(\d+)\.(\d+)\.(\d+)[\.\d]* ")


def _chromium_major(ua: str) -> int | None:
    match = _CHROMIUM_VERSION.search(ua)
    return int(match.group(1)) if match else None


def _has_webkit_samesite_bug(ua: str) -> bool:
    ios = _IOS.search(ua)
    if ios and int(ios.group(1)) == 12:
        return True
    mac = _MACOS.search(ua)
    if mac and (int(mac.group(1)), int(mac.group(2))) == (10, 14):
        is_safari = bool(_SAFARI.search(ua)) and not _CHROMIUM.search(ua)
        return is_safari or bool(_MAC_EMBEDDED.search(ua))
    return False


def _drops_unrecognized_samesite(ua: str) -> bool:
    if _UC.search(ua):
        match = _UC_VERSION.search(ua)
        if not match:
            return False
        return tuple(int(part) for part in match.groups()) < (12, 13, 2)
    if _CHROMIUM.search(ua):
        major = _chromium_major(ua)
        return major is not None and 51 <= major <= 66
    return False


def samesite_none_incompatible(user_agent: str) -> bool:
    """Return whether the client rejects or misreads `SameSite=None` (Chromium's list:
    Chrome/Chromium 51–66, UC Browser before 12.13.2, iOS 12, Safari and embedded
    browsers on macOS 10.14)."""
    return _has_webkit_samesite_bug(user_agent) or _drops_unrecognized_samesite(user_agent)


class PartitionedMorsel(Morsel):
    def OutputString(self, attrs=None):
        return super().OutputString(attrs) + "; Partitioned"


def apply_policy(cookies, *, samesite: str, secure: bool, partitioned: bool, user_agent: str):
    """Rewrite every cookie of a response (a SimpleCookie) in place."""
    omit_samesite = samesite == "None" and samesite_none_incompatible(user_agent)
    for name in list(cookies):
        morsel = cookies[name]
        morsel["samesite"] = "" if omit_samesite else samesite
        morsel["secure"] = secure or ""
        morsel["httponly"] = True
        if partitioned and not isinstance(morsel, PartitionedMorsel):
            replacement = PartitionedMorsel()
            replacement.set(morsel.key, morsel.value, morsel.coded_value)
            replacement.update(morsel)
            cookies[name] = replacement
