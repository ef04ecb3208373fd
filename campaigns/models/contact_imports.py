"""Contact files being imported (`FileImport`), each with its mode."""

from django.db import models

from campaigns.models.file_imports import FileImport, unguessable_name

IMPORT_PREFIX = "contact-imports/"


def import_file_name(instance, filename: str) -> str:
    return unguessable_name(IMPORT_PREFIX)


class ContactImport(FileImport):
    """One contact CSV, imported in one of three modes."""

    class Mode(models.TextChoices):
        ADD = "add", "Add new contacts (existing ones are left as they are)"
        UPDATE = "update", "Add new contacts and update existing ones (name, time zone, attributes)"
        OPT_OUT = "opt_out", "Opt every number in the file out of marketing"

    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.ADD)
    file = models.FileField(upload_to=import_file_name, max_length=200)

    class Meta(FileImport.Meta):
        pass
