"""Catalog feed files being imported (`FileImport`): the admin's upload, checked, confirmed,
then imported in the background with progress."""

from django.db import models

from campaigns.models.file_imports import FileImport, unguessable_name

IMPORT_PREFIX = "catalog-imports/"


def feed_file_name(instance, filename: str) -> str:
    return unguessable_name(IMPORT_PREFIX)


class CatalogImport(FileImport):
    """One Meta catalog feed (CSV or TSV)."""

    file = models.FileField(upload_to=feed_file_name, max_length=200)
    keep_missing = models.BooleanField(
        "keep products missing from the file",
        default=False,
        help_text="Off: the file is the whole catalog, and products not in it become inactive.",
    )

    class Meta(FileImport.Meta):
        pass
