"""A person's sessions on their admin page, and ending one of them after confirming.

The list is the one the person sees at /api/v1/auth/sessions (accounts.flows.sessions):
their live browser sessions, each with the token families born from it, and their token
families of their own. An operator who may change the person (a super admin, or the
admin of the person's organisation) may end any one of them; the page first says what
will happen, and only its "Yes, I'm sure" ends it, as its owner ending it would, with a
SESSION_ENDED audit event naming the operator. Another organisation's people are a 404,
as everywhere in the admin, and so is a session the person does not have.
"""

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from organisations.admin import TenantScopedInline
from organisations.admin_confirm import Confirmation, counted

from ..flows.sessions import (
    BROWSER,
    ENDED_BY_ADMIN,
    Caller,
    end_session,
    find_session,
    sessions_of,
)
from ..models import AuditType, LoginSession
from ..useragent import summarise
from .audit import audit_event


def _caller(request, user) -> Caller:
    """Return the Caller whose sessions the operator sees: the person, with the
    operator's own current session marked when they look at themselves."""
    if user.pk == request.user.pk:
        return Caller(user, session_key=request.session.session_key or "")
    return Caller(user)


class SessionInline(TenantScopedInline):
    """The person's live sessions (a table of its own: ``sessions`` is set for the page
    being built, and the formset stays empty), each with a link to end it."""

    model = LoginSession
    organisation_path = ("user", "organisation_id")
    template = "admin/accounts/user/sessions_inline.html"
    verbose_name = "session"
    verbose_name_plural = "Where they are signed in"

    def get_queryset(self, request):
        return super().get_queryset(request).none()

    def get_formset(self, request, obj=None, **kwargs):
        self.sessions = [
            {**session.body(), "end_url": self._end_url(obj, session)}
            for session in sessions_of(_caller(request, obj))
        ]
        self.may_end = self.admin_site.get_model_admin(type(obj)).has_change_permission(
            request, obj
        )
        return super().get_formset(request, obj, **kwargs)

    def _end_url(self, user, session) -> str:
        return reverse(
            f"{self.admin_site.name}:accounts_user_end_session", args=[user.pk, session.id]
        )

    def has_add_permission(self, request, obj):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _confirmation(user, session) -> Confirmation:
    if session.current:
        # Ending it here would end this very request's session; logging out does that.
        return Confirmation(
            title="End this session?",
            summary="This is the session you are using now: log out to end it.",
            count=0,
        )
    if session.kind == BROWSER:
        summary = (
            f"This ends {counted(1, 'browser session')} of {user}: that browser is signed "
            "out at its next request."
        )
        if session.families:
            families = counted(session.families, "token family", "token families")
            summary += (
                f" It also revokes the {families} issued from it: apps holding their tokens "
                "are refused at their next request."
            )
    else:
        summary = (
            f"This revokes {counted(1, 'token family', 'token families')} of {user}: the app "
            "holding its tokens is refused at its next request and cannot refresh them."
        )
    return Confirmation(
        title="End this session?",
        summary=summary,
        count=1,
        objects=[
            f"{summarise(session.user_agent)} from {session.ip or 'an unknown address'}, "
            f"signed in {session.created_at:%Y-%m-%d %H:%M} UTC, "
            f"last used {session.last_used_at:%Y-%m-%d %H:%M} UTC"
        ],
    )


class EndSessionMixin:
    """Adds ``<user id>/sessions/<session id>/end/`` to the user admin: the confirmation
    page (GET), and the ending (POST with ``post=yes``)."""

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        end = self.admin_site.admin_view(self.end_session_view)
        return [
            path(
                "<path:object_id>/sessions/<str:session_id>/end/",
                end,
                name="{}_{}_end_session".format(*info),
            ),
            *super().get_urls(),
        ]

    def end_session_view(self, request, object_id, session_id):
        user = self.get_object(request, unquote(object_id))
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        change_url = reverse(f"{self.admin_site.name}:accounts_user_change", args=[user.pk])
        if request.method == "POST" and request.POST.get("post") == "yes":
            with transaction.atomic():
                session = find_session(_caller(request, user), session_id)
                if session is None or session.current:
                    raise Http404("This person has no such session to end here.")
                end_session(session, ENDED_BY_ADMIN)
                audit_event(
                    request,
                    AuditType.SESSION_ENDED,
                    user_id=user.pk,
                    organisation_id=user.organisation_id,
                    session=session.id,
                    kind=session.kind,
                    by="admin",
                ).save()
            self.message_user(request, f"Ended a session of {user}.", messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        session = find_session(_caller(request, user), session_id)
        if session is None:
            raise Http404("This person has no such session.")
        context = {
            **self.admin_site.each_context(request),
            "title": "End this session?",
            "subtitle": None,
            "opts": self.opts,
            "object": user,
            "confirmation": _confirmation(user, session),
            "back_url": change_url,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/accounts/user/end_session.html", context)
