from django.urls import path

from . import views

urlpatterns = [
    path("api/v1/auth/csrf", views.csrf, name="api-csrf"),
]
