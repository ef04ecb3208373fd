"""The per-sender slot table that every process on every machine paces its sends by."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0008_worker_heartbeats"),
    ]

    operations = [
        migrations.CreateModel(
            name='RateSlot',
            fields=[
                ('sender', models.CharField(help_text='Digits only.', max_length=20, primary_key=True, serialize=False)),
                ('next_free', models.FloatField(default=0.0)),
            ],
        ),
    ]
