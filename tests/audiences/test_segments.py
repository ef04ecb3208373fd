"""Segment rules: every condition and its negation against a seeded set of contacts, messages
and orders; rules as free-form JSON never raise and get problems naming the condition."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from campaigns.audiences.segments import SegmentRulesError, segment_contacts, segment_problems
from campaigns.models import Consent, Contact, ContactList, Message, Order
from tests.support.factories import make_campaign

pytestmark = pytest.mark.django_db
ASHA, RAVI, MEERA = "+919800000001", "+919800000002", "+919800000003"  # in sorted order


@pytest.fixture
def seeded():
    """Asha read Diwali then ordered; Ravi read it and did not; Meera only got it long ago."""
    now = timezone.now()
    asha = Contact.objects.create(phone=ASHA, attributes={"city": "Pune", "tier": "gold"})
    ravi = Contact.objects.create(phone=RAVI, attributes={"city": "Mumbai", "a__b": "x"})
    Contact.objects.create(phone=MEERA, attributes={"city": ""}, consent=Consent.OPTED_IN)
    Contact.objects.filter(phone=ASHA).update(consent=Consent.OPTED_OUT)
    diwali = make_campaign(name="Diwali")
    other = make_campaign(name="Other")
    sent = now - timedelta(days=2)
    for phone, state in ((ASHA, Message.State.READ), (RAVI, Message.State.READ)):
        Message.objects.create(campaign=diwali, to=phone, state=state, claimed_at=sent)
    Message.objects.create(
        campaign=other, to=MEERA, state=Message.State.DELIVERED, claimed_at=now - timedelta(days=40)
    )
    Message.objects.create(campaign=other, to=RAVI, state=Message.State.FAILED, claimed_at=sent)
    Order.objects.create(from_phone=ASHA, received_at=now - timedelta(days=1))
    Order.objects.create(from_phone=RAVI, received_at=now - timedelta(days=20))
    vip = ContactList.objects.create(name="VIP")
    vip.contacts.add(asha, ravi)
    return {"diwali": diwali.pk, "other": other.pk, "vip": vip.pk}


def phones(rules):
    return sorted(segment_contacts(rules).values_list("phone", flat=True))


def test_attribute_conditions_and_their_negations(seeded):
    assert phones([{"op": "equals", "attribute": "city", "value": "Pune"}]) == [ASHA]
    negated = [{"op": "equals", "attribute": "city", "value": "Pune", "negate": True}]
    assert phones(negated) == [RAVI, MEERA]
    assert phones([{"op": "contains", "attribute": "city", "value": "mum"}]) == [RAVI]
    assert phones([{"op": "is_set", "attribute": "city"}]) == [ASHA, RAVI]  # "" is not set
    assert phones([{"op": "is_set", "attribute": "tier", "negate": True}]) == [RAVI, MEERA]
    # A name with "__" is one key, not a path into the JSON.
    assert phones([{"op": "equals", "attribute": "a__b", "value": "x"}]) == [RAVI]


def test_consent_and_list_conditions(seeded):
    assert phones([{"op": "consent", "value": "opted_in"}]) == [MEERA]
    assert phones([{"op": "consent", "value": "unknown"}]) == [RAVI]
    assert phones([{"op": "consent", "value": "opted_out", "negate": True}]) == [RAVI, MEERA]
    assert phones([{"op": "in_list", "list": seeded["vip"]}]) == [ASHA, RAVI]
    assert phones([{"op": "in_list", "list": seeded["vip"], "negate": True}]) == [MEERA]


def test_engagement_conditions(seeded):
    other = seeded["other"]
    assert phones([{"op": "received_campaign", "campaign": other}]) == [MEERA]  # Ravi's failed
    assert phones([{"op": "read_campaign", "campaign": seeded["diwali"]}]) == [ASHA, RAVI]
    assert phones([{"op": "read_campaign", "campaign": other, "negate": True}]) == [
        ASHA,
        RAVI,
        MEERA,
    ]
    assert phones([{"op": "ordered_in_days", "days": 7}]) == [ASHA]
    assert phones([{"op": "ordered_in_days", "days": 30}]) == [ASHA, RAVI]
    assert phones([{"op": "not_messaged_in_days", "days": 30}]) == [MEERA]
    assert phones([{"op": "not_messaged_in_days", "days": 30, "negate": True}]) == [ASHA, RAVI]


def test_read_the_diwali_campaign_no_order_since(seeded):
    rules = [
        {"op": "read_campaign", "campaign": seeded["diwali"]},
        {"op": "ordered_since_campaign", "campaign": seeded["diwali"], "negate": True},
    ]
    assert phones(rules) == [RAVI]  # his order came before Diwali; Asha's after
    assert phones(rules[1:]) == [RAVI, MEERA]


def test_problems_name_the_condition_and_the_field(seeded):
    assert segment_problems([{"op": "ordered_in_days", "days": 0}]) == [
        "condition 1: days must be 1 to 3650"
    ]
    problems = segment_problems(
        [
            {"op": "consent", "value": "opted_in"},
            {"op": "read_campaign", "campaign": 999999},
            {"op": "equals", "attribute": "", "value": "x", "negate": "yes"},
            {"op": "sql"},
        ]
    )
    assert problems == [
        "condition 2: campaign 999999 does not exist",
        "condition 3: negate must be true or false",
        "condition 3: attribute must be a name of 1 to 100 characters",
        "condition 4: op must be one of equals, contains, is_set, consent, in_list, "
        "received_campaign, read_campaign, ordered_since_campaign, ordered_in_days, "
        "not_messaged_in_days",
    ]
    with pytest.raises(SegmentRulesError, match="condition 1: days"):
        segment_contacts([{"op": "not_messaged_in_days", "days": True}])
    assert segment_problems({"op": "consent"}) == ["rules must be a list of conditions"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
CONDITION = st.fixed_dictionaries(
    {
        "op": st.sampled_from(
            [
                "equals",
                "contains",
                "is_set",
                "consent",
                "in_list",
                "ordered_in_days",
                "read_campaign",
                "x",
            ]
        )
    },
    optional={
        "attribute": JSON | st.text(max_size=120),
        "value": JSON,
        "days": JSON,
        "list": JSON,
        "campaign": JSON,
        "negate": JSON,
    },
)


@given(rules=JSON | st.lists(CONDITION | JSON, max_size=4))
def test_arbitrary_rules_are_refused_in_words_or_evaluated(rules):
    problems = segment_problems(rules)
    if problems:
        assert all(p.startswith(("condition ", "rules")) for p in problems)
        with pytest.raises(SegmentRulesError):
            segment_contacts(rules)
    else:
        segment_contacts(rules).count()
