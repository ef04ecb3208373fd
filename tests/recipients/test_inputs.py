"""Reading recipient lists: CSV columns checked up front (extra ones ignored and named), the
delimiter sniffed, empty files refused, rows read lazily and named by their CSV line, blank lines
left out."""

import pytest

from campaigns.models import Message
from campaigns.recipients import CsvRecipients, RecipientFileError, campaign_queue_recipients
from tests.support.recipients import phone, write_csv

pytestmark = pytest.mark.django_db


# --- reading and checking -----------------------------------------------------------------------


def test_bad_rows_are_named_by_their_csv_line_and_nothing_is_queued(campaign, tmp_path):
    path = write_csv(
        tmp_path / "r.csv",
        "phone,body_1",
        [
            f"{phone(1)},Asha",  # line 2
            "98765 43210,Ravi",  # line 3: no country code
            "",  # line 4: blank
            f'{phone(2)},"two\nlines"',  # lines 5-6: one row, its value spans two lines
            "+91 12,Mina",  # line 7: too short
            ",Nobody",  # line 8: no number
            f"{phone(3)},Joe",  # line 9
        ],
    )

    report = campaign_queue_recipients(campaign, CsvRecipients(path))

    assert [(line, value) for line, value, _ in report.invalid] == [
        (3, "98765 43210"),
        (6, phone(2)),
        (7, "+91 12"),
        (8, ""),
    ]
    reasons = [reason for *_, reason in report.invalid]
    assert "country code" in reasons[0]
    assert "body_1" in reasons[1]
    assert "not a valid number" in reasons[2]
    assert "empty" in reasons[3]
    assert (report.invalid_count, report.queued) == (4, 0)
    assert not Message.objects.exists()  # all or nothing


@pytest.mark.parametrize(
    ("header", "named"), [("phone,body_0", "body_0"), ("phone,ref,body_x", "body_x")]
)
def test_a_body_column_that_is_not_a_variable_refuses_the_file(tmp_path, header, named):
    path = write_csv(tmp_path / "r.csv", header, [f"{phone(1)},x,y"])
    with pytest.raises(RecipientFileError, match=f"does not know: {named}\\."):
        CsvRecipients(path)


def test_a_crm_exports_extra_columns_are_ignored_and_named(campaign, tmp_path):
    path = write_csv(
        tmp_path / "r.csv",
        "id,name,phone,email,body_1,Ref3",
        [f"7,Asha,{phone(1)},asha@example.com,Asha,x"],
    )
    rows = CsvRecipients(path)
    assert rows.ignored_columns == ["id", "name", "email", "Ref3"]
    assert rows.ignored_note == (
        "Columns “id”, “name”, “email”, “Ref3” ignored: only phone, header, "
        "body_1 … body_n, ref, ref1, ref2, skus, thumbnail and section_N_title / "
        "section_N_skus are used."
    )
    assert [(r.phone, r.overrides) for r in rows] == [(phone(1), {"body_1": "Asha"})]


def test_many_ignored_columns_are_counted_after_the_first_ten(tmp_path):
    extra = [f"c{n}" for n in range(12)]
    path = write_csv(tmp_path / "r.csv", ",".join(["phone", *extra]), [phone(1)])
    assert CsvRecipients(path).ignored_note.startswith(
        "Columns “c0”, “c1”, “c2”, “c3”, “c4”, “c5”, “c6”, “c7”, “c8”, “c9” and 2 more ignored"
    )
    assert CsvRecipients(write_csv(tmp_path / "s.csv", "phone", [phone(1)])).ignored_note == ""


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_sniffed_and_a_byte_order_mark_dropped(campaign, tmp_path, delimiter):
    path = tmp_path / "r.csv"
    lines = [["phone", "body_1", "name"], [phone(1), "Asha", "A, B"], [phone(2), "Ravi", "R"]]
    text = "".join(
        delimiter.join(f'"{c}"' if "," in c else c for c in line) + "\r\n" for line in lines
    )
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    rows = CsvRecipients(path)
    assert rows.ignored_columns == ["name"]
    assert [(r.phone, r.overrides) for r in rows] == [
        (phone(1), {"body_1": "Asha"}),
        (phone(2), {"body_1": "Ravi"}),
    ]


@pytest.mark.parametrize("content", ["phone,body_1\n", "\ufeffphone\n\n  \n,\n", "phone"])
def test_a_file_without_recipients_is_refused_in_plain_words(tmp_path, content):
    path = tmp_path / "r.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RecipientFileError, match=r"^The file has no recipients\. "):
        CsvRecipients(path)


def test_a_file_without_a_phone_column_is_refused(tmp_path):
    path = write_csv(tmp_path / "r.csv", "mobile", [phone(1)])
    with pytest.raises(RecipientFileError, match="needs a 'phone' column"):
        CsvRecipients(path)


def test_known_columns_and_a_byte_order_mark_are_accepted(campaign, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(
        f"\ufeffphone, header ,body_1,ref,ref1,ref2\n{phone(1)},basket,Asha,crm-1,a,b\n",
        encoding="utf-8",
    )
    report = campaign_queue_recipients(campaign, CsvRecipients(path))
    assert report.queued == 1
    assert Message.objects.get().overrides == {
        "header": "basket",
        "body_1": "Asha",
        "ref": "crm-1",
        "ref1": "a",
        "ref2": "b",
    }


def test_blank_lines_are_ignored_and_later_lines_keep_their_numbers(campaign, tmp_path):
    path = write_csv(
        tmp_path / "r.csv",
        "phone,body_1",
        ["", f"{phone(1)},Asha", "  ", ",", "", f"{phone(2)},Ravi", "", "+91 12,Bad"],
    )

    inputs = list(CsvRecipients(path))
    assert [(r.line, r.phone) for r in inputs] == [(3, phone(1)), (7, phone(2)), (9, "+91 12")]
    report = campaign_queue_recipients(campaign, inputs[:2])
    assert (report.queued, report.invalid_count) == (2, 0)
