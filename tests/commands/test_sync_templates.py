"""`manage.py sync_templates`: against the sandbox's paged list over HTTP (as in `make run`) and
the stand-in; the exit status says whether the list was read."""

import io

import pytest
from django.core.management import CommandError, ManagementUtility, call_command

from campaigns.kaleyra.sandbox.templates import SANDBOX_TEMPLATES
from campaigns.models import MessageTemplate
from tests.support.templates import answer_pages, mpm_template, use_waba


def sync(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("sync_templates", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code, err = exc.returncode, io.StringIO(err.getvalue() + str(exc))
    return code, out.getvalue(), err.getvalue()


def test_the_sandbox_list_syncs_over_every_page(sandbox, transactional_db):
    code, out, err = sync()

    assert code == 0, err
    pages = -(-len(SANDBOX_TEMPLATES) // 2)  # the sandbox's pages of two
    assert f"Templates synced from Kaleyra ({pages} page(s)): 4 created" in out
    assert len(sandbox.requests) == pages
    assert MessageTemplate.objects.count() == len(SANDBOX_TEMPLATES)
    demo = MessageTemplate.objects.get(name="abandoned_cart", language="en_US")
    assert demo.status == MessageTemplate.Status.APPROVED and demo.has_mpm_button
    assert MessageTemplate.objects.get(name="new_arrivals").button_index == 1
    assert MessageTemplate.objects.get(name="order_update").has_mpm_button is False
    assert MessageTemplate.objects.get(name="festive_sale").status == "pending"

    code, out, err = sync()
    assert code == 0 and "0 created, 0 updated, 4 unchanged, 0 vanished" in out


def test_a_list_read_completely_exits_zero(provider, settings, db):
    use_waba(settings)
    answer_pages(provider, [mpm_template("spring_sale")], [mpm_template("autumn_sale")])

    code, out, _err = sync()

    assert code == 0
    assert "created spring_sale (en_US)" in out and "2 created" in out


def test_a_list_that_could_not_be_read_exits_non_zero(provider, settings, db):
    use_waba(settings)
    answer_pages(provider, [mpm_template("spring_sale")], [])
    provider.script.answers.pop()
    provider.answer_error("RBC001")

    code, _out, err = sync()

    assert code == 1
    assert "could not be read completely: 1 created" in err and "HTTP 401" in err
    assert MessageTemplate.objects.filter(name="spring_sale").exists()


def test_manage_py_exits_with_status_1(provider, settings, db, capsys):
    use_waba(settings)
    provider.answer(200, body="not json", content_type="text/plain")

    with pytest.raises(SystemExit) as exit_:
        ManagementUtility(["manage.py", "sync_templates"]).execute()

    assert exit_.value.code == 1
    assert "not JSON" in capsys.readouterr().err
