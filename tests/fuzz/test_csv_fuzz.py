"""Random files and random columns and cells through the CSV reader, the plan and the queue:
the file is refused as a whole (RecipientFileError, shown next to the upload), or every row is
checked, and a list with an invalid row queues nothing."""

from hypothesis import given
from hypothesis import strategies as st

from campaigns import recipients
from campaigns.models import Message
from tests.support import hostile

columns = (
    st.sampled_from(["phone", "header", "body_1", "body_2", "ref", "ref2"])
    | st.from_regex(r"body_[0-9]{1,30}", fullmatch=True)
    | hostile.texts
)
cells = st.sampled_from(["+919876543210", "+14155550123", "919876543210"]) | hostile.texts


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(",".join(row) for row in [header, *rows])


csv_files = st.tuples(
    st.lists(columns, min_size=1, max_size=5), st.lists(st.lists(cells, max_size=5), max_size=5)
).map(lambda parts: csv_text(*parts).encode("utf-8", "surrogatepass")) | st.binary(max_size=300)


@given(content=csv_files)
def test_a_csv_is_refused_whole_or_queued_all_or_nothing(campaign, tmp_path, content):
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    messages = Message.objects.count()
    try:
        rows = recipients.CsvRecipients(path)
        plan = recipients.recipients_plan(campaign, rows)
        report = recipients.campaign_queue_recipients(campaign, rows)
    except recipients.RecipientFileError as exc:
        assert str(exc)
        assert Message.objects.count() == messages
        return
    assert plan.valid_count >= 0
    if report.invalid_count:
        assert Message.objects.count() == messages
    else:  # each row queued (new or again) or recorded as skipped, at most
        written = report.queued + report.skipped_count_blocked
        assert 0 <= Message.objects.count() - messages <= written
