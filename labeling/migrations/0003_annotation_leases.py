# Annotation workflow: assignments know their campaign, skips carry flags, judgments protect
# their assignment (it holds the slot), and pairs get the index the claim query walks.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0002_generationtask_available_at_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="assignment",
            name="campaign",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="assignments",
                to="labeling.campaign",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="skip",
            name="flags",
            field=models.JSONField(
                blank=True, default=list, help_text="problems flagged when skipping"
            ),
        ),
        migrations.AlterField(
            model_name="judgment",
            name="assignment",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="judgment",
                to="labeling.assignment",
            ),
        ),
        migrations.AddConstraint(
            model_name="assignment",
            constraint=models.CheckConstraint(
                condition=models.Q(("slot__lt", 16)), name="assignment_slot_range"
            ),
        ),
        migrations.AddIndex(
            model_name="assignment",
            index=models.Index(
                condition=models.Q(("completed_at__isnull", True)),
                fields=["annotator", "campaign"],
                name="assignment_open_by_annotator",
            ),
        ),
        # The claim walks pairs "closest to completion first, then oldest" and stops at the
        # first free one; this index makes that walk start at the right place at any size.
        # Raw SQL because the Pair model belongs to another module (no model-state change).
        migrations.RunSQL(
            sql=(
                "CREATE INDEX IF NOT EXISTS labeling_pair_claim_order "
                "ON labeling_pair (judgment_count DESC, id)"
            ),
            reverse_sql="DROP INDEX IF EXISTS labeling_pair_claim_order",
        ),
    ]
