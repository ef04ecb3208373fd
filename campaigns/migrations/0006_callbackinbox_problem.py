from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0005_recipient_uploads"),
    ]

    operations = [
        migrations.AddField(
            model_name="callbackinbox",
            name="problem",
            field=models.CharField(
                blank=True,
                choices=[
                    ("not_a_callback", "Not a callback this app understands"),
                    ("out_of_range", "A value beyond what can be stored"),
                    ("failed", "Applying it failed"),
                ],
                max_length=20,
            ),
        ),
    ]
