"""Seed the default taxonomy and rubric and publish them as policy version 1."""

from django.db import migrations

from policy.seed import seed_default_policy


def seed(apps, schema_editor):
    seed_default_policy(
        apps.get_model("policy", "Category"),
        apps.get_model("policy", "PolicyVersion"),
        apps.get_model("policy", "WorkingPolicy"),
    )


class Migration(migrations.Migration):
    dependencies = [("policy", "0002_working_policy_history")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
