from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0017_consensus_runs"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="show_gold_score",
            field=models.BooleanField(
                default=False,
                help_text="Show each annotator their own gold score on the pair page",
            ),
        ),
    ]
