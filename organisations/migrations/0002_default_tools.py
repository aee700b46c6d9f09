from django.db import migrations

TOOLS = [
    {
        "code": "market_edge",
        "name": "Market Edge",
        "description": "Competitive market intelligence.",
        "default_features": ["dashboards", "market_share"],
        "default_limits": {"seats": 5, "reports_per_month": 50},
    },
    {
        "code": "causal_edge",
        "name": "Causal Edge",
        "description": "Causal analysis of business drivers.",
        "default_features": ["experiments", "attribution"],
        "default_limits": {"seats": 5, "models": 10},
    },
    {
        "code": "value_edge",
        "name": "Value Edge",
        "description": "Pricing and value analytics.",
        "default_features": ["price_elasticity"],
        "default_limits": {"seats": 5, "scenarios": 20},
    },
]


def create_tools(apps, schema_editor):
    Tool = apps.get_model("organisations", "Tool")
    for tool in TOOLS:
        Tool.objects.get_or_create(
            code=tool["code"],
            defaults={**tool, "is_active": True, "is_default": True, "default_tier": "basic"},
        )


class Migration(migrations.Migration):
    dependencies = [("organisations", "0001_initial")]

    operations = [migrations.RunPython(create_tools, migrations.RunPython.noop)]
