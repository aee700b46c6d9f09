"""Confirmation pages for admin actions that end sessions, deactivate people or change
access in bulk, modelled on Django's ``delete_selected`` action.

The first POST of a decorated action renders a page saying what will happen and to how
many people; only the POST that page sends back (with ``post=yes``) runs the action. That
POST goes through Django's action handling again, so the selected ids are scoped to the
operator's tenant anew: ids of rows the operator may not see are ignored, whatever the
page was made to send. The page works from the change list and from an action on the
change form (``admin.ActionLocation.CHANGE_FORM``).

It lives in ``organisations``, the ground floor, so that both ``organisations.admin`` and
``accounts.admin`` may use it; it imports neither.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps

from django.contrib.admin import ActionLocation, helpers
from django.template.response import TemplateResponse

MAX_LISTED = 100
"""How many of the objects concerned a confirmation page names; the rest are counted."""


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation page says.

    ``summary`` says in words what will happen and to how many people. ``count`` is how
    many of the selected rows the action would change: with 0 the page says so and offers
    only the way back. ``objects`` are named under the summary (rows or strings);
    ``notes`` are shown before the button, for example that the operator left themself
    out.
    """

    title: str
    summary: str
    count: int
    objects: Sequence = ()
    notes: Sequence[str] = ()


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """Return ``number`` with the noun that fits it: "1 person", "3 people"."""
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"


def confirm_first(describe: Callable[..., Confirmation]):
    """Decorate an admin action so that it asks for confirmation before it runs.

    ``describe(modeladmin, request, queryset)`` returns the ``Confirmation`` for the rows
    the action was given, counting only what the action would really change (it should
    read the same queryset, with the same exclusions, as the action). Put the decorator
    under ``@admin.action``::

        @admin.action(description="Deactivate selected users", permissions=["change"])
        @confirm_first(describe_deactivation)
        def deactivate_users(self, request, queryset): ...
    """

    def decorator(action):
        @wraps(action)
        def confirmed(modeladmin, request, queryset):
            if request.POST.get("post") == "yes":
                return action(modeladmin, request, queryset)
            return confirmation_page(
                modeladmin,
                request,
                queryset,
                action.__name__,
                describe(modeladmin, request, queryset),
            )

        return confirmed

    return decorator


def confirmation_page(modeladmin, request, queryset, action_name, confirmation):
    """Return the page that asks to confirm ``action_name`` on ``queryset``.

    Its form posts back to the page it came from (the change list, with its filters, or
    the change form) with the rows' ids, the action's field as that page names it and
    ``post=yes``; "No, take me back" is a link to the same page.
    """
    opts = modeladmin.model._meta
    on_change_form = f"{ActionLocation.CHANGE_FORM.value}-action" in request.POST
    objects = list(confirmation.objects[:MAX_LISTED])
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": confirmation.title,
        "subtitle": None,
        "opts": opts,
        "confirmation": confirmation,
        "objects": objects,
        "unlisted": max(len(confirmation.objects) - MAX_LISTED, 0),
        "selected": list(queryset.values_list("pk", flat=True)),
        "object": queryset.first() if on_change_form else None,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "action_field": (
            f"{ActionLocation.CHANGE_FORM.value}-action" if on_change_form else "action"
        ),
        "action_name": action_name,
        "on_change_form": on_change_form,
        "back_url": request.get_full_path(),
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(
        request,
        [
            f"admin/{opts.app_label}/{opts.model_name}/action_confirmation.html",
            f"admin/{opts.app_label}/action_confirmation.html",
            "admin/action_confirmation.html",
        ],
        context,
    )
