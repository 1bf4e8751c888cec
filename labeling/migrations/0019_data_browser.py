import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from labeling.browser.search_index import install_statements, uninstall_statements


def install(apps, schema_editor):
    """Full-text search columns and their GIN indexes (PostgreSQL only; SQLite searches with
    icontains)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in install_statements():
        schema_editor.execute(statement)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in uninstall_statements():
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0018_campaign_show_gold_score"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ExportExclusion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "excluded_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "pair",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="export_exclusion",
                        to="labeling.pair",
                    ),
                ),
            ],
        ),
        migrations.AlterField(
            model_name="reviewrequest",
            name="source",
            field=models.CharField(
                choices=[
                    ("regrade", "Policy re-grade"),
                    ("consensus", "Likely label error"),
                    ("browser", "Data browser"),
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(install, uninstall),
    ]
