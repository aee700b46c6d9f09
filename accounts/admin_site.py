"""The admin site: who may enter, the step-up to a multi-factor login, and sign-in.

Entry follows the role: super admins and organisation admins (``organisations.roles``) are
admitted, once their login passes the step-up check when ADMIN_MFA_REQUIRED is on; any
other signed-in person gets a 403 page saying why. Every admin page and every change
passes through ``admin_view``, so a login that grows too old mid-visit is stepped up at the
next click. People sign in through the identity provider ("Continue with …"); the password
form is for break-glass operator accounts (ADMIN_PASSWORD_LOGIN).
"""

from functools import update_wrapper

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from organisations.roles import may_administer

from . import app_settings
from .login import step_up
from .redirects import is_admin_path


class PasswordSignInForm(AdminAuthenticationForm):
    """The admin's password form, refused unless ADMIN_PASSWORD_LOGIN is on."""

    def clean(self):
        if not settings.ADMIN_PASSWORD_LOGIN:
            raise ValidationError(
                "Password sign-in is off here; continue with %(provider)s.",
                code="password_login_off",
                params={"provider": app_settings.provider_name()},
            )
        return super().clean()


class AdminSite(admin.AdminSite):
    """Django's admin site, entered by role and with a recent multi-factor login."""

    login_template = "accounts/admin_login.html"
    login_form = PasswordSignInForm

    def has_permission(self, request):
        return may_administer(request.user) and not step_up.needed(request.session)

    def admin_view(self, view, cacheable=False):
        checked = super().admin_view(view, cacheable)

        def inner(request, *args, **kwargs):
            refusal = self._refusal(request, request.get_full_path())
            if refusal is not None:
                return refusal
            return checked(request, *args, **kwargs)

        return update_wrapper(inner, checked)

    def login(self, request, extra_context=None):
        if request.method == "GET":
            next_path = request.GET.get("next", "")
            refusal = self._refusal(
                request, next_path if is_admin_path(next_path) else reverse("admin:index")
            )
            if refusal is not None:
                return refusal
        return super().login(request, extra_context)

    def _refusal(self, request, next_path: str):
        """Return the 403 page for a signed-in person whose role keeps them out, a
        redirect through the step-up login (back to ``next_path``) for an admin whose
        login does not pass it, or None."""
        user = request.user
        if not user.is_authenticated or request.path == reverse("admin:logout"):
            return None
        if not may_administer(user):
            response = TemplateResponse(
                request,
                "accounts/admin_forbidden.html",
                {
                    **self.each_context(request),
                    "title": "You cannot use the admin",
                    "role": user.get_role_display(),
                    "web_app_url": settings.LOGIN_REDIRECT_URL,
                },
                status=403,
            )
        elif step_up.needed(request.session):
            response = HttpResponseRedirect(step_up.login_url(next_path))
        else:
            return None
        add_never_cache_headers(response)
        return response
