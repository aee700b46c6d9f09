"""Change-list columns (organisations.admin.columns): short headers, values that wrap at
punctuation, and nothing an operator or a tenant typed is ever rendered as HTML."""

import pytest
from django.contrib.admin.templatetags.admin_list import result_headers
from django.urls import reverse

from accounts.models import User
from organisations.models import Organisation

pytestmark = pytest.mark.django_db


def test_values_wrap_at_punctuation_and_are_escaped(as_super_admin):
    hostile = Organisation.objects.create(name="<b>Evil</b> & Co", slug="evil")
    User.objects.create_user("first.last@evil-corp.example", organisation=hostile)

    response = as_super_admin.get(reverse("admin:accounts_user_changelist"))

    page = response.content.decode()
    assert "&lt;b&gt;Evil&lt;/<wbr>b&gt; &amp; Co" in page
    assert "<b>Evil" not in page
    assert "first<wbr>.last<wbr>@evil-<wbr>corp<wbr>.example" in page
    headers = [header["text"] for header in result_headers(response.context["cl"])]
    assert headers[1:] == ["Email", "name", "Organisation", "role", "Active", "Last login"]


def test_a_shortened_column_still_sorts_by_its_field(as_super_admin, org_a, org_b):
    url = reverse("admin:organisations_organisation_changelist")
    Organisation.objects.filter(pk=org_a.pk).update(subscription_plan="professional")
    Organisation.objects.filter(pk=org_b.pk).update(subscription_plan="basic")

    # Columns: name, slug, plan: sort by the third, descending.
    listed = as_super_admin.get(url, {"o": "-3"}).context["cl"].result_list

    assert [organisation.slug for organisation in listed] == ["alpha", "bravo"]
