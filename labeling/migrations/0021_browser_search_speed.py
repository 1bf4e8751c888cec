from django.db import migrations

from labeling.browser.search_index import (
    campaign_statements,
    campaign_uninstall_statements,
    settings_reset_statements,
    settings_statements,
)


def install(apps, schema_editor):
    """The candidates' campaign column and the search indexes' short pending list (PostgreSQL
    only: SQLite has no search columns)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in [*campaign_statements(), *settings_statements()]:
        schema_editor.execute(statement)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in [*settings_reset_statements(), *campaign_uninstall_statements()]:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0020_pair_routing"),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
    ]
