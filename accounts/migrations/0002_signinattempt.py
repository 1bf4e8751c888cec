from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_roles")]

    operations = [
        migrations.CreateModel(
            name="SignInAttempt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key", models.CharField(max_length=255)),
                ("at", models.DateTimeField()),
            ],
            options={
                "indexes": [
                    models.Index(fields=["key", "at"], name="accounts_signin_key_at"),
                    models.Index(fields=["at"], name="accounts_signin_at"),
                ],
            },
        ),
    ]
