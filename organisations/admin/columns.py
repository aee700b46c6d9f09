"""Change-list columns under short headers that wrap where a person would, so that every
list fits a 1,366 px screen (tests/browser/test_admin_lists_fit.py).

Django keeps related rows and dates on one line, and an address or an identifier has no
space to wrap at: one long email pushed the last columns of a list out of sight.
"""

import re
from functools import reduce

from django.contrib import admin
from django.db import models
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

_BREAKS = re.compile(r"(?=[@.|])|(?<=[-/:_])")


def breakable(text: str) -> str:
    """Return ``text``, escaped, with a line-break opportunity before each ``@``, ``.``
    and ``|`` and after each ``-``, ``/``, ``:`` and ``_``."""
    return format_html_join(SafeString("<wbr>"), "{}", ((part,) for part in _BREAKS.split(text)))


def column(path: str, description: str, *, boolean: bool = False):
    """Return a ``list_display`` entry showing ``path`` (a field, or a ``__`` path through
    relations) under the header ``description``, sortable by that field. A field with
    choices shows its label, as Django's own column would; text and related rows wrap
    (``breakable``)."""
    *relations, name = path.split("__")

    @admin.display(description=description, boolean=boolean, ordering=path)
    def show(obj):
        owner = reduce(getattr, relations, obj)
        label = getattr(owner, f"get_{name}_display", None)
        value = label() if label else getattr(owner, name)
        if isinstance(value, str | models.Model):
            return breakable(str(value))
        return value

    # The cells' CSS class (field-<name>) follows the field's name.
    show.__name__ = path
    return show
