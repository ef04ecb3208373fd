"""Contact imports read and written: BOM and delimiters, the two ways to give a number, errors by
line beside kept rows, duplicates merged, the three modes, consent with the setting on and off,
the dry run's counts equal to the import's, and a killed import resumed where it stopped."""

from pathlib import Path

import pytest
from django.utils import timezone

from campaigns.audiences.consent import Provenance, consent_record
from campaigns.audiences.imports import ContactCsv, ContactFileError, contacts_import
from campaigns.localtime import guess_time_zone
from campaigns.models import Consent, ConsentEvent, Contact

pytestmark = pytest.mark.django_db
ASHA, RAVI, MEERA = "+919876543210", "+919876543211", "+919876543212"
FILE = Provenance("import", ref="customers.csv (import 1)")


def written(tmp_path, text: str, *, bom: bool = False, name="customers.csv") -> ContactCsv:
    path = tmp_path / name
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return ContactCsv(path, shown_as=name)


def run(contacts_csv, mode="add", *, dry_run=False, **kwargs):
    return contacts_import(contacts_csv, mode=mode, provenance=FILE, dry_run=dry_run, **kwargs)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("bom", [False, True])
def test_each_delimiter_with_or_without_a_byte_order_mark(tmp_path, delimiter, bom):
    text = delimiter.join(["phone", "name", "city"]) + "\n"
    text += delimiter.join([ASHA, "Asha", "Pune"]) + "\n"
    report = run(written(tmp_path, text, bom=bom))
    assert (report.new, report.errors) == (1, 0)
    contact = Contact.objects.get()
    assert (contact.phone, contact.name, contact.attributes) == (ASHA, "Asha", {"city": "Pune"})
    assert contact.time_zone == guess_time_zone(ASHA) != ""  # guessed from the number


def test_interakt_country_code_and_phone_number_with_a_plus_or_a_trunk_zero(tmp_path):
    text = "country_code,phone_number,name\n91,9876543210,Asha\n+91,09876543211,Ravi\n,+919876543212,Meera\n"
    report = run(written(tmp_path, text))
    assert report.errors == 0
    assert set(Contact.objects.values_list("phone", flat=True)) == {ASHA, RAVI, MEERA}
    # Neither column is an attribute: together they are the number.
    assert Contact.objects.get(phone=ASHA).attributes == {}


def test_bad_rows_are_reported_by_line_and_the_good_ones_beside_them_kept(tmp_path):
    text = (
        "phone,name,time_zone,tier\n"
        f"{ASHA},Asha,,gold\n"
        "9876543211,Ravi,,\n"  # no country code
        f"{MEERA},Meera,Mars/Olympus,\n"
        f"+919876543213,{'x' * 201},,\n"
        "\n"
        "+919876543214,Lata,Europe/Berlin,\n"
    )
    report = run(written(tmp_path, text))
    assert (report.rows, report.new, report.errors) == (5, 2, 3)
    assert report.first_errors[0].startswith("Line 3: phone:")
    assert "no country code" in report.first_errors[0]
    assert report.first_errors[1].startswith("Line 4: time_zone “Mars/Olympus”")
    assert report.first_errors[2] == "Line 5: name is 201 characters; the limit is 200."
    assert Contact.objects.get(phone="+919876543214").time_zone == "Europe/Berlin"
    assert Contact.objects.get(phone=ASHA).attributes == {"tier": "gold"}  # empty cells: none


def test_duplicates_are_merged_the_later_row_winning_and_reported(tmp_path):
    text = f"phone,name,city\n{ASHA},Asha,Pune\n{RAVI},Ravi,\n{ASHA},Asha K,Mumbai\n+91 98765 43210,Asha Kulkarni,\n"
    report = run(written(tmp_path, text))
    assert (report.new, report.duplicates, report.duplicate_examples) == (2, 2, [ASHA, ASHA])
    asha = Contact.objects.get(phone=ASHA)
    assert (asha.name, asha.attributes) == ("Asha Kulkarni", {})


def test_add_leaves_existing_contacts_as_they_are(tmp_path):
    Contact.objects.create(phone=ASHA, name="Asha", attributes={"city": "Pune"})
    report = run(written(tmp_path, f"phone,name,city\n{ASHA},Someone else,Delhi\n{RAVI},Ravi,\n"))
    assert (report.new, report.updated, report.unchanged) == (1, 0, 1)
    asha = Contact.objects.get(phone=ASHA)
    assert (asha.name, asha.attributes) == ("Asha", {"city": "Pune"})


def test_update_merges_attributes_and_keeps_what_an_empty_cell_leaves(tmp_path):
    Contact.objects.create(phone=ASHA, name="Asha", attributes={"city": "Pune", "tier": "gold"})
    Contact.objects.create(phone=RAVI, name="Ravi", attributes={"city": "Goa"})
    text = f"phone,name,city,vip\n{ASHA},,Mumbai,yes\n{RAVI},Ravi,Goa,\n{MEERA},Meera,,\n"
    report = run(written(tmp_path, text), "update")
    assert (report.new, report.updated, report.unchanged) == (1, 1, 1)
    asha = Contact.objects.get(phone=ASHA)
    assert asha.name == "Asha"
    assert asha.attributes == {"city": "Mumbai", "tier": "gold", "vip": "yes"}


def test_opt_out_records_an_event_for_every_valid_row_through_the_ledger(tmp_path):
    consent_record(ASHA, Consent.OPTED_IN, Provenance("form"))
    report = run(written(tmp_path, f"phone\n{ASHA}\n{RAVI}\nnonsense\n"), "opt_out")
    assert (report.opted_out, report.new, report.errors) == (2, 1, 1)
    for phone in (ASHA, RAVI):
        contact = Contact.objects.get(phone=phone)
        assert contact.consent == Consent.OPTED_OUT
        event = contact.consent_events.last()
        assert (event.source, event.source_ref) == ("import", "customers.csv (import 1)")


def test_consent_column_is_ignored_in_plain_words_when_lists_carry_no_consent(tmp_path, settings):
    settings.MPM_LISTS_CARRY_CONSENT = False
    report = run(written(tmp_path, f"phone,opted_in\n{ASHA},TRUE\n{RAVI},maybe\n"))
    assert report.errors == 0 and report.opted_in == 0
    assert "“opted_in” ignored" in report.notes[0] and "MPM_LISTS_CARRY_CONSENT" in report.notes[0]
    assert not ConsentEvent.objects.exists()
    assert Contact.objects.get(phone=ASHA).attributes == {}  # not an attribute either


def test_with_lists_carrying_consent_each_row_says_yes_or_no(tmp_path, settings):
    settings.MPM_LISTS_CARRY_CONSENT = True
    consent_record(MEERA, Consent.OPTED_OUT, Provenance("whatsapp_stop"))
    text = f"phone,whatsapp_opted\n{ASHA},yes\n{RAVI},0\n{MEERA},TRUE\n+919876543213,perhaps\n"
    report = run(written(tmp_path, text))
    assert report.opted_in == 1
    assert report.first_errors == [
        "Line 5: whatsapp_opted “perhaps” is not a yes or no: write TRUE or FALSE (yes/no, 1/0)."
    ]
    assert Contact.objects.get(phone=ASHA).consent == Consent.OPTED_IN
    assert Contact.objects.get(phone=RAVI).consent == Consent.UNKNOWN
    # An opt-out recorded before is never overturned by a list.
    assert Contact.objects.get(phone=MEERA).consent == Consent.OPTED_OUT
    assert ConsentEvent.objects.filter(source="import").count() == 1


def test_with_lists_carrying_consent_and_no_column_every_row_without_consent_opts_in(
    tmp_path, settings
):
    settings.MPM_LISTS_CARRY_CONSENT = True
    consent_record(RAVI, Consent.OPTED_OUT, Provenance("admin"))
    report = run(written(tmp_path, f"phone\n{ASHA}\n{RAVI}\n"), "update")
    assert report.opted_in == 1
    assert Contact.objects.get(phone=ASHA).consent == Consent.OPTED_IN
    assert Contact.objects.get(phone=RAVI).consent == Consent.OPTED_OUT


@pytest.mark.parametrize("mode", ["add", "update", "opt_out"])
def test_the_dry_run_writes_nothing_and_counts_what_the_import_then_does(tmp_path, settings, mode):
    settings.MPM_LISTS_CARRY_CONSENT = True
    settings.MPM_IMPORT_CHUNK_ROWS = 100
    Contact.objects.create(phone=ASHA, name="Asha")
    Contact.objects.create(phone=RAVI, name="Ravi", attributes={"city": "Goa"})
    lines = [f"{ASHA},Asha K,Pune", f"{RAVI},Ravi,Goa", "bad,x,y"]
    lines += [f"+9198765{n:05d},N{n},C{n % 7}" for n in range(20, 320)]
    lines += [f"+9198765{n:05d},again,C" for n in range(20, 40)]
    contacts_csv = written(tmp_path, "phone,name,city\n" + "\n".join(lines) + "\n")
    before = (Contact.objects.count(), ConsentEvent.objects.count())
    preview = run(contacts_csv, mode, dry_run=True)
    assert (Contact.objects.count(), ConsentEvent.objects.count()) == before
    done = run(contacts_csv, mode)
    assert preview == done
    assert done.new == 300 and done.duplicates == 20 and done.errors == 1
    assert Contact.objects.count() == 302


def test_an_import_killed_after_a_chunk_goes_on_after_it(tmp_path, settings):
    """The progress a chunk writes commits with its rows: a resumed import skips them and its
    counts are those of one whole run."""
    settings.MPM_IMPORT_CHUNK_ROWS = 100
    contacts_csv = written(
        tmp_path, "phone\n" + "\n".join(f"+9198765{n:05d}" for n in range(250)) + "\n"
    )
    progress = []

    class Killed(Exception):
        pass

    def die_after_first(report, line):
        progress.append((report.done_counts(), line))
        if len(progress) == 1:
            return
        raise Killed  # inside the second chunk's transaction: its rows go

    with pytest.raises(Killed):
        run(contacts_csv, "opt_out", chunk_done=die_after_first)
    assert Contact.objects.count() == 100
    done, line = progress[0]
    report = run(contacts_csv, "opt_out", after_line=line, done=done)
    assert (report.new, report.opted_out) == (250, 250)
    assert Contact.objects.count() == 250
    assert ConsentEvent.objects.count() == 250  # no contact opted out twice


@pytest.mark.parametrize(
    "text, problem",
    [
        ("name,city\nAsha,Pune\n", "needs a 'phone' column"),
        ("phone,name\n", "only a header line"),
        ("phone,name,phone\n+919876543210,a,b\n", "column phone more than once"),
        ("phone,ci\x00ty\n+919876543210,Pune\n", "header line holds a NUL character"),
    ],
)
def test_a_file_that_cannot_be_imported_says_why(tmp_path, text, problem):
    with pytest.raises(ContactFileError, match=problem):
        written(tmp_path, text)


def test_a_row_holding_a_nul_character_is_an_error_of_its_line(tmp_path):
    report = run(written(tmp_path, f"phone,city\n{ASHA},Pu\x00ne\n{RAVI},Goa\n"))
    assert report.first_errors == ["Line 2: holds a NUL character, which cannot be stored."]
    assert list(Contact.objects.values_list("phone", flat=True)) == [RAVI]


def test_a_file_that_is_not_utf8_says_so(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("phone,name\n+919876543210,Jos\xe9\n".encode("latin-1"))
    with pytest.raises(ContactFileError, match="not a UTF-8 CSV"):
        run(ContactCsv(path))


def test_twenty_thousand_rows_in_chunks(tmp_path, settings):
    """The million is in benchmarks/contact_import.py; here the chunking at size."""
    settings.MPM_IMPORT_CHUNK_ROWS = 5000
    rows = "\n".join(f"+9198{n:08d},Name {n},{n % 10}" for n in range(20_000))
    contacts_csv = written(tmp_path, "phone,name,tier\n" + rows + "\n")
    chunks = []
    started = timezone.now()
    report = run(contacts_csv, chunk_done=lambda report, line: chunks.append(line))
    assert report.new == 20_000 and len(chunks) == 4 and chunks[-1] == 20_001
    assert Contact.objects.filter(created_at__gte=started).count() == 20_000


def test_the_readmes_example_file_imports_without_errors(settings):
    settings.MPM_LISTS_CARRY_CONSENT = True
    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "contacts.csv"
    report = run(ContactCsv(example))
    assert (report.new, report.errors, report.opted_in) == (4, 0, 2)
    lena = Contact.objects.get(phone="+4915123456789")
    assert (lena.time_zone, lena.attributes, lena.consent) == (
        "Europe/Berlin",
        {"city": "Berlin"},
        Consent.OPTED_IN,
    )
