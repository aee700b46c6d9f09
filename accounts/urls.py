from django.urls import path

from . import session_views, token_views, views

# Django tries the patterns in order and none overlap: the busiest come first.
urlpatterns = [
    path("api/v1/auth/me", views.me, name="api-me"),
    path("api/v1/features", views.features, name="api-features"),
    path("api/v1/applications", views.applications, name="api-applications"),
    path("api/v1/auth/token", token_views.token, name="api-token"),
    path("api/v1/auth/refresh", token_views.refresh, name="api-refresh"),
    path("api/v1/auth/csrf", views.csrf, name="api-csrf"),
    path("api/v1/auth/sessions", session_views.sessions, name="api-sessions"),
    path("api/v1/auth/sessions/<str:session_id>", session_views.session, name="api-session"),
    path("api/v1/auth/revoke", token_views.revoke, name="api-revoke"),
    path(".well-known/jwks.json", token_views.jwks, name="jwks"),
    path("auth/login", views.login, name="login"),
    path("auth/callback", views.callback, name="callback"),
    path("auth/logout", views.logout, name="logout"),
    path("auth/backchannel-logout", views.backchannel_logout, name="backchannel-logout"),
]
