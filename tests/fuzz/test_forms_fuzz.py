"""Random and malformed posts to every form (the composer, its check, the recipients form, the
admin's add forms): never a 5xx, and a refused post writes nothing."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import given
from hypothesis import strategies as st

from campaigns.models import Campaign, Message, MessageTemplate, OptOut, Product, SectionItem
from tests.support import hostile

TEMPLATE = "<the campaign's template>"  # replaced by its id in the test

sections_json = st.lists(
    hostile.documents(
        {
            "title": hostile.texts | hostile.json_values,
            "products": st.lists(st.sampled_from(["SKU-00001"]) | hostile.texts, max_size=4)
            | hostile.json_values,
        }
    ),
    max_size=4,
).map(json.dumps)
composer_posts = st.fixed_dictionaries(
    {
        "name": hostile.maybe(hostile.texts),
        "template": hostile.maybe(st.just(TEMPLATE) | hostile.texts),
        "header_value": hostile.maybe(hostile.texts),
        "thumbnail": hostile.maybe(st.sampled_from(["SKU-00001"]) | hostile.texts),
        "sections": hostile.maybe(
            sections_json | hostile.deep_json | hostile.json_values.map(json.dumps) | hostile.texts
        ),
        "ref": hostile.maybe(hostile.texts),
        "wa_source": hostile.maybe(st.sampled_from(["api", "crm"]) | hostile.texts),
        "action": hostile.maybe(st.sampled_from(["save", "send"]) | hostile.texts),
    },
    optional={
        "bodies": st.dictionaries(
            st.from_regex(r"body_[0-9]{1,25}", fullmatch=True), hostile.texts, max_size=3
        )
    },
).map(hostile.without_none)


def composer_data(post: dict, campaign: Campaign) -> dict:
    data = {**post, **post.pop("bodies", {})}
    if data.get("template") == TEMPLATE:
        data["template"] = str(campaign.template_id)
    return data


def content(campaign: Campaign):
    campaign.refresh_from_db()
    items = SectionItem.objects.filter(section__campaign=campaign)
    return (
        campaign.name,
        campaign.header_value,
        campaign.body_values,
        campaign.thumbnail_product_id,
        list(items.values_list("section__title", "product_id")),
    )


@given(post=composer_posts)
def test_the_composer_saves_a_post_whole_or_not_at_all(staff, campaign, post):
    data = composer_data(post, campaign)
    before, campaigns = content(campaign), Campaign.objects.count()
    response = staff.post(f"/campaigns/{campaign.pk}/edit/", data)
    assert response.status_code in (302, 400)
    if response.status_code == 400:
        assert content(campaign) == before
    response = staff.post("/campaigns/new/", data)
    assert response.status_code in (302, 400)
    assert Campaign.objects.count() == campaigns + (response.status_code == 302)
    check = staff.post("/campaigns/check/", data)
    assert check.status_code == 200
    assert "problems" in check.json()


@given(
    numbers=hostile.maybe(hostile.texts),
    upload=hostile.maybe(
        st.binary(max_size=300)
        | st.lists(st.lists(hostile.texts, max_size=4), max_size=4).map(
            lambda rows: "\n".join(",".join(row) for row in [["phone", "header"], *rows]).encode()
        )
    ),
)
def test_the_recipients_form_answers_a_plan_or_names_the_problem(staff, campaign, numbers, upload):
    data = {"numbers": numbers} if numbers is not None else {}
    if upload is not None:
        data["csv_file"] = SimpleUploadedFile("list.csv", upload, content_type="text/csv")
    messages = Message.objects.count()
    response = staff.post(f"/campaigns/{campaign.pk}/send/", data, follow=True)
    assert response.status_code in (200, 400)  # a file goes on to its upload's page
    assert Message.objects.count() == messages  # the first post only shows the plan


ADMIN_ADD_FORMS = {
    "campaign": (Campaign, ["name", "template", "header_value", "body_values", "ref", "wa_source"]),
    "product": (Product, ["retailer_id", "name", "price", "currency", "image_url", "availability"]),
    "messagetemplate": (MessageTemplate, ["name", "language", "body_text", "button_index"]),
    "optout": (OptOut, ["phone", "reason", "keyword"]),
}


@given(
    form=st.sampled_from(sorted(ADMIN_ADD_FORMS)),
    values=st.lists(hostile.texts | hostile.big_ints.map(str), min_size=6, max_size=6),
)
def test_the_admin_add_forms_refuse_bad_values_and_write_nothing(staff, campaign, form, values):
    model, fields = ADMIN_ADD_FORMS[form]
    data = dict(zip(fields, values, strict=False))
    count = model.objects.count()
    response = staff.post(f"/admin/campaigns/{form}/add/", data)
    assert response.status_code in (200, 302)
    assert model.objects.count() == count + (response.status_code == 302)
