"""Reading recipient lists: CSV columns checked up front, rows read lazily and named by their
CSV line, blank lines left out."""

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
    ("header", "named"),
    [("phone,name", "name"), ("phone,body_0", "body_0"), ("phone,ref,Ref3", "Ref3")],
)
def test_an_unknown_column_refuses_the_file(tmp_path, header, named):
    path = write_csv(tmp_path / "r.csv", header, [f"{phone(1)},x,y"])
    with pytest.raises(RecipientFileError, match=f"does not know: {named}\\."):
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
