"""The clock verdict: the test provider always stamps its own Date, so the skew
thresholds are tested on crafted Date headers."""

from email.utils import formatdate

import pytest

from accounts.ops.doctor.provider import check_clock

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("offset", "verdict", "found"),
    [
        (0, "ok", "within 1 s of the provider's"),
        (29, "ok", "29 s behind the provider's"),
        (30, "warn", "30 s behind the provider's"),
        (-45, "warn", "45 s ahead of the provider's"),
        (119, "warn", "119 s behind"),
        (120, "FAIL", "120 s behind"),
        (-3600, "FAIL", "3600 s ahead of"),
    ],
)
def test_skew_verdicts(offset, verdict, found):
    check = check_clock(formatdate(NOW + offset, usegmt=True), NOW)
    assert check.verdict == verdict
    assert found in check.found
    if verdict == "ok":
        assert check.hint == ""
    else:
        assert "60 s leeway" in check.hint


@pytest.mark.parametrize("header", [None, "", "yesterday, around noon"])
def test_unknown_skew_is_a_warning(header):
    check = check_clock(header, NOW)
    assert check.verdict == "warn"
    assert "NTP" in check.hint
