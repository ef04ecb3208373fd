"""The hand-written statements name real columns and states: a renamed field or state fails here,
not in production."""

import pytest
from django.db.models import NOT_PROVIDED

from campaigns.callbacks.sql import INBOX_COLUMNS, STATUS_EVENT_COLUMNS
from campaigns.models import CallbackInbox, Message, SendAttempt, StatusEvent
from campaigns.recipients.sql import MESSAGE_COLUMNS
from campaigns.sending import sql as sending_sql


def columns(model) -> set[str]:
    return {field.column for field in model._meta.concrete_fields}


@pytest.mark.parametrize(
    ("model", "named"),
    [
        (Message, MESSAGE_COLUMNS),
        (Message, sending_sql.ANSWERED_COLUMNS),
        (SendAttempt, sending_sql.ATTEMPT_COLUMNS),
        (CallbackInbox, INBOX_COLUMNS),
        (StatusEvent, STATUS_EVENT_COLUMNS),
    ],
)
def test_every_column_a_statement_names_is_a_column_of_its_model(model, named):
    assert set(named) <= columns(model)
    assert len(set(named)) == len(named)


def test_the_inserts_leave_out_only_columns_the_database_fills():
    """A column an INSERT leaves out must have a database default (or be the id)."""
    for model, named in (
        (Message, MESSAGE_COLUMNS),
        (SendAttempt, sending_sql.ATTEMPT_COLUMNS),
        (StatusEvent, STATUS_EVENT_COLUMNS),
    ):
        left_out = {
            field
            for field in model._meta.concrete_fields
            if field.column not in named and not field.primary_key
        }
        without_default = {
            f.column for f in left_out if not f.null and f.db_default is NOT_PROVIDED
        }
        assert without_default == set(), model.__name__


def test_the_claim_and_answer_states_are_the_models():
    assert Message.State.SENDING.value == sending_sql.SENDING
    assert Message.State.QUEUED.value == sending_sql.QUEUED
    assert {sending_sql.SENDING, sending_sql.QUEUED} <= set(Message.State.values)
