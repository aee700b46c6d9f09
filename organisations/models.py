"""Tenants and what they may use.

This app is the ground floor: it never imports `accounts`; it names the user model
through ``settings.AUTH_USER_MODEL``. Invariants live in the database as constraints.
Every write to the models that decide a person's access (``access_cache.WATCHED``)
invalidates the cached access it concerns: saves and deletes through signals, bulk
writes through their manager's ``access_cache.AccessQuerySet``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from .access_cache import AccessQuerySet


class SubscriptionPlan(models.TextChoices):
    BASIC = "basic", "Basic"
    PROFESSIONAL = "professional", "Professional"
    ENTERPRISE = "enterprise", "Enterprise"


class Tier(models.TextChoices):
    BASIC = "basic", "Basic"
    PROFESSIONAL = "professional", "Professional"
    ENTERPRISE = "enterprise", "Enterprise"


class Organisation(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    auth0_org_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    subscription_plan = models.CharField(
        max_length=20, choices=SubscriptionPlan.choices, default=SubscriptionPlan.BASIC
    )
    is_active = models.BooleanField(default=True)
    # Set by the login that creates the organisation, cleared once its default tool access
    # is granted (docs/architecture.md, "Access owed"). The database default serves rows
    # an older release inserts during a deploy.
    access_pending = models.BooleanField(default=False, db_default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(subscription_plan__in=SubscriptionPlan.values),
                name="organisation_plan_valid",
            ),
            models.CheckConstraint(condition=~Q(slug=""), name="organisation_slug_not_empty"),
        ]

    def __str__(self):
        return self.name


class OrganisationDomain(models.Model):
    """An email domain owned by an organisation; a new user whose verified email is on a
    verified domain joins that organisation."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253)
    verified = models.BooleanField(default=False)

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(Lower("domain"), name="organisation_domain_unique_ci"),
            models.CheckConstraint(
                condition=Q(domain=Lower("domain")), name="organisation_domain_lowercase"
            ),
        ]

    def __str__(self):
        return self.domain


class Tool(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    default_tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.BASIC)
    default_features = models.JSONField(default=list, blank=True)
    default_limits = models.JSONField(default=dict, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(default_tier__in=Tier.values), name="tool_default_tier_valid"
            ),
        ]

    def __str__(self):
        return self.name


class OrganisationToolAccess(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="tool_access"
    )
    tool = models.ForeignKey(Tool, on_delete=models.CASCADE, related_name="organisation_access")
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.BASIC)
    features = models.JSONField(default=list, blank=True)
    limits = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        verbose_name = "organisation tool access"
        verbose_name_plural = "organisation tool access"
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "tool"], name="organisation_tool_access_unique"
            ),
            models.CheckConstraint(
                condition=Q(tier__in=Tier.values), name="tool_access_tier_valid"
            ),
        ]

    def __str__(self):
        return f"{self.organisation} → {self.tool}"


class UserApplicationAccess(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="application_access"
    )
    tool = models.ForeignKey(Tool, on_delete=models.CASCADE, related_name="user_access")
    has_access = models.BooleanField(default=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    granted_at = models.DateTimeField(auto_now_add=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        db_table = "user_application_access"
        verbose_name = "application access"
        verbose_name_plural = "application access"
        constraints = [
            models.UniqueConstraint(fields=["user", "tool"], name="user_application_access_unique"),
        ]

    def __str__(self):
        return f"access to {self.tool}"


class FeatureFlag(models.Model):
    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=False)
    rollout_percentage = models.PositiveSmallIntegerField(default=100)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rollout_percentage__gte=0) & Q(rollout_percentage__lte=100),
                name="feature_flag_rollout_0_100",
            ),
        ]

    def __str__(self):
        return self.key


class OrganisationFeatureOverride(models.Model):
    flag = models.ForeignKey(
        FeatureFlag, on_delete=models.CASCADE, related_name="organisation_overrides"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="feature_overrides"
    )
    enabled = models.BooleanField()
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["flag", "organisation"], name="organisation_feature_override_unique"
            ),
        ]

    def __str__(self):
        return f"{self.flag} for {self.organisation}: {'on' if self.enabled else 'off'}"


class UserFeatureOverride(models.Model):
    flag = models.ForeignKey(FeatureFlag, on_delete=models.CASCADE, related_name="user_overrides")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feature_overrides"
    )
    enabled = models.BooleanField()
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = AccessQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flag", "user"], name="user_feature_override_unique"),
        ]

    def __str__(self):
        return f"{self.flag} for user {self.user_id}: {'on' if self.enabled else 'off'}"
