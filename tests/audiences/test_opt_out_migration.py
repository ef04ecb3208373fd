"""Migration 0019 puts every opt-out recorded before the consent ledger into it, as it happened."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("campaigns", "0018_contact_imports")]
AFTER = [("campaigns", "0019_opt_outs_in_the_ledger")]


@pytest.fixture
def migrator():
    """Migrations run back and forth; the database ends at the latest again for the next test."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_existing_opt_outs_become_ledger_events_and_nothing_is_lost(migrator):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    OptOut = old.get_model("campaigns", "OptOut")
    stopped_at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    OptOut.objects.create(phone="+919876543210", reason="stop_keyword", keyword="STOP")
    OptOut.objects.create(phone="+919876543211", reason="meta_131050")
    OptOut.objects.create(phone="+447911123456", reason="manual")
    OptOut.objects.filter(phone="+919876543210").update(created_at=stopped_at)

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Contact = new.get_model("campaigns", "Contact")
    ConsentEvent = new.get_model("campaigns", "ConsentEvent")

    events = {
        e.contact.phone: (e.status, e.source, e.source_ref, e.recorded_at)
        for e in ConsentEvent.objects.select_related("contact")
    }
    assert events["+919876543210"] == ("opted_out", "whatsapp_stop", "STOP", stopped_at)
    assert events["+919876543211"][:2] == ("opted_out", "meta_131050")
    assert events["+447911123456"][:2] == ("opted_out", "admin")
    assert set(Contact.objects.values_list("consent", flat=True)) == {"opted_out"}
    assert Contact.objects.get(phone="+919876543210").time_zone  # guessed from the number
    assert new.get_model("campaigns", "OptOut").objects.count() == 3  # the list is kept
