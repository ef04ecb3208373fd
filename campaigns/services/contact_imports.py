"""Contact imports as the pages run them (`services.file_imports`): a contact CSV, imported in
its mode, with every opt-in or opt-out recorded as coming from this file."""

from campaigns.audiences.consent import Provenance
from campaigns.audiences.imports import ContactCsv, ContactFileError, contacts_import
from campaigns.models import ConsentEvent, ContactImport
from campaigns.services.file_imports import FileImportKind


def csv_of(contact_import: ContactImport) -> ContactCsv:
    return ContactCsv(
        contact_import.file.name,
        storage=contact_import.file.storage,
        shown_as=contact_import.original_name,
    )


def provenance_of(contact_import: ContactImport) -> Provenance:
    return Provenance(
        ConsentEvent.Source.IMPORT,
        ref=f"{contact_import.original_name} (import {contact_import.pk})",
        actor=contact_import.owner,
    )


def imported(contacts_csv: ContactCsv, contact_import: ContactImport, **steps):
    return contacts_import(
        contacts_csv, mode=contact_import.mode, provenance=provenance_of(contact_import), **steps
    )


CONTACT_IMPORTS = FileImportKind(
    model=ContactImport, file_error=ContactFileError, opened=csv_of, imported=imported
)


def contact_import_store(*, owner, uploaded, mode: str) -> ContactImport:
    """Keep an uploaded contact file; `ContactFileError` when it cannot be imported at all."""
    return CONTACT_IMPORTS.store(owner=owner, uploaded=uploaded, mode=mode)


contact_imports_purge = CONTACT_IMPORTS.purge
contact_import_check = CONTACT_IMPORTS.check
contact_import_confirm = CONTACT_IMPORTS.confirm
contact_import_run = CONTACT_IMPORTS.run
contact_imports_heal = CONTACT_IMPORTS.heal
