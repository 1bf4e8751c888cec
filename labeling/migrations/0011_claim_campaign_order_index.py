import django.db.models.deletion
from django.db import migrations, models

# Every pair takes its prompt's campaign (one statement; a correlated subquery, so SQLite too).
FILL_CAMPAIGN = (
    "UPDATE labeling_pair SET campaign_id = ("
    "SELECT campaign_id FROM labeling_prompt WHERE labeling_prompt.id = labeling_pair.prompt_id)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0010_import_jobs"),
    ]

    # The claim filters by campaign and orders by (judgment_count DESC, id). The index of
    # 0003 held that order over every campaign's pairs, so a claim walked past the pairs of
    # all other campaigns (and joined each one's prompt to learn its campaign) before it
    # reached its own; with the campaign on the pair, its index leads with it and the walk
    # starts at the campaign's first candidate.
    operations = [
        migrations.AddField(
            model_name="pair",
            name="campaign",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="labeling.campaign",
            ),
        ),
        migrations.RunSQL(FILL_CAMPAIGN, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="pair",
            name="campaign",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="labeling.campaign",
            ),
        ),
        migrations.RunSQL(
            "DROP INDEX IF EXISTS labeling_pair_claim_order",
            "CREATE INDEX IF NOT EXISTS labeling_pair_claim_order "
            "ON labeling_pair (judgment_count DESC, id)",
        ),
        migrations.AddIndex(
            model_name="pair",
            index=models.Index(
                fields=["campaign", "is_gold", "-judgment_count", "id"], name="pair_claim_order"
            ),
        ),
    ]
