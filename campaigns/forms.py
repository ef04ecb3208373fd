"""Forms: the admin's campaign, opt-out, send and webhook endpoint forms, and the composer's
forms.

The composer's forms only parse what was posted into a `composer.ComposerState`; the rules a
campaign must meet to be sent live in `validation` and are reported by the check, not here.
"""

import json
import re

from django import forms

from campaigns import conf, jsonsafe, limits, validation
from campaigns.audiences.segments import segment_problems
from campaigns.models import (
    Campaign,
    Consent,
    ContactImport,
    ContactList,
    Message,
    MessageTemplate,
    OptOut,
    Segment,
    Sender,
    WebhookEndpoint,
    WebhookEvent,
)
from campaigns.recipients import normalise_phone
from campaigns.services.composer import (
    MAX_DRAFT_PRODUCTS,
    MAX_DRAFT_SECTIONS,
    MAX_DRAFT_TITLE_LENGTH,
    ComposerState,
    SectionDraft,
)
from campaigns.services.uploads import megabytes, size_refusal

LAST_TEST_NUMBER = "campaigns_last_test_number"  # session key: the test number is prefilled
BODY_FIELD = re.compile(r"^body_([1-9]\d{0,1})$")  # body_1 … body_99


class LinesField(forms.CharField):
    """A JSON list of strings edited as a textarea, one value per line.

    Only the line breaks are removed: spaces stay, so the campaign check can report them
    exactly as Meta would refuse them.
    """

    widget = forms.Textarea(attrs={"rows": 4})

    def __init__(self, **kwargs):
        super().__init__(strip=False, required=False, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value):
        text = (value or "").replace("\r\n", "\n").rstrip("\n")
        return text.split("\n") if text else []

    def validate(self, value):
        super().validate(value)
        for number, line in enumerate(value, start=1):
            if "\x00" in line:
                raise forms.ValidationError(
                    f"Line {number} holds a NUL character (\\x00), which cannot be stored."
                )


def too_long(what: str) -> str:
    """A max_length message naming the field and its limit."""
    return f"{what} is %(show_value)d characters; the limit is %(limit_value)d."


def ref_field(name: str) -> forms.CharField:
    """One extra_info field (ref, ref1, ref2), the same in the admin and the composer."""
    help_text = f"extra_info.{name}: Kaleyra keeps the first {limits.MAX_REF_LENGTH} characters."
    if name == "ref":
        help_text += " Left empty, each message carries its own ID here."
    return forms.CharField(
        label=name,
        required=False,
        max_length=Campaign._meta.get_field(name).max_length,
        help_text=help_text,
        error_messages={"max_length": too_long(name)},
    )


class IdChoiceField(forms.ModelChoiceField):
    """A row chosen by id in an autocomplete widget. A posted value that cannot be an id is
    re-shown as no choice (and refused as usual): Django's AutocompleteSelect would otherwise
    query it as posted, and the database's error would be a 500."""

    def bound_data(self, data, initial):
        field = self.queryset.model._meta.get_field(self.to_field_name or "pk")
        try:
            field.run_validators(field.to_python(data))  # a number, and within its range
        except forms.ValidationError:
            return None
        return data


class PhoneField(forms.CharField):
    """A phone number, cleaned to E.164; the reason it is refused in plain words."""

    def clean(self, value):
        number, reason = normalise_phone(super().clean(value))
        if number is None:
            raise forms.ValidationError(reason)
        return number


class MessageTemplateForm(forms.ModelForm):
    """A template definition as staff type it, checked by the rules sends are checked by."""

    class Meta:
        model = MessageTemplate
        fields = [
            "name",
            "language",
            "category",
            "header_text",
            "body_text",
            "footer_text",
            "button_index",
            "button_text",
            "has_mpm_button",
            "status",
        ]

    def clean(self):
        cleaned = super().clean()
        # Fields that failed their own checks keep the model's defaults here.
        definition = MessageTemplate(**{k: v for k, v in cleaned.items() if k in self.Meta.fields})
        for problem in validation.template_definition_errors(definition):
            if problem.field in self.fields and problem.field not in self.errors:
                self.add_error(problem.field, problem.message)
        return cleaned


class CampaignAdminForm(forms.ModelForm):
    body_values = LinesField(
        label="Body values",
        help_text="One per line, in order: {{1}}, {{2}} …",
    )
    ref = ref_field("ref")
    ref1 = ref_field("ref1")
    ref2 = ref_field("ref2")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "sender" in self.fields:  # only active senders can be chosen
            self.fields["sender"].queryset = Sender.objects.active()

    class Meta:
        model = Campaign
        fields = [
            "name",
            "template",
            "thumbnail_product",
            "thumbnail_from_recipient",
            "sender",
            "triggered",
            "send_from",
            "send_until",
            "header_value",
            "body_values",
            "ref",
            "ref1",
            "ref2",
            "wa_source",
        ]


class OptOutForm(forms.ModelForm):
    class Meta:
        model = OptOut
        fields = ["phone", "reason", "keyword"]
        field_classes = {"phone": PhoneField}


class WebhookEndpointForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        label="Events",
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The events posted to this URL.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "event_types", "campaign", "is_active"]

    def clean_url(self):
        url = self.cleaned_data["url"].strip()
        problem = validation.webhook_url_problem(
            url, local_http=conf.MPM_WEBHOOK_LOCAL_HTTP_ALLOWED
        )
        if problem:
            raise forms.ValidationError(problem)
        return url


class SendTestForm(forms.Form):
    to = PhoneField(
        label="Phone number",
        max_length=32,
        help_text="With its country code, e.g. +919876543210.",
    )
    skus = forms.CharField(
        label="The test recipient's products",
        required=False,
        max_length=3100,
        help_text="For a section filled per recipient: SKU1|SKU2|…, as in the skus column.",
    )


class SendToNumbersForm(forms.Form):
    numbers = forms.CharField(
        label="Phone numbers",
        widget=forms.Textarea(attrs={"rows": 10, "cols": 40}),
        help_text="Separated by commas or new lines, each with its country code.",
    )


# --- the composer -------------------------------------------------------------------------------


def form_problems(form: forms.Form) -> list[validation.Problem]:
    """A form's own errors as problems, named by field like the check's."""
    return [
        validation.Problem(field if field != "__all__" else "form", str(message))
        for field, messages in form.errors.items()
        for message in messages
    ]


def lenient_sections(raw: str) -> list[SectionDraft]:
    """Sections as posted, without any limit: for showing them again, never for saving."""
    try:
        data = jsonsafe.loads(raw or "[]")
    except jsonsafe.JsonRefused:
        return []
    if not isinstance(data, list):
        return []
    return [
        SectionDraft(
            item.get("title") if isinstance(item.get("title"), str) else "",
            [str(p) for p in item.get("products", []) if isinstance(p, str)]
            if isinstance(item.get("products"), list)
            else [],
            item.get("personalised") is True,
        )
        for item in data
        if isinstance(item, dict)
    ]


class LoadedChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField over rows loaded once (`load`): rendering and checking a choice query
    nothing more (the composer's check runs on every edit)."""

    def load(self, rows):
        self.rows = {str(row.pk): row for row in rows}
        self.widget.choices = [(row.pk, str(row)) for row in rows]

    def to_python(self, value):
        if value in self.empty_values:
            return None
        row = getattr(self, "rows", {}).get(str(value))
        if row is None:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            )
        return row


class ComposerForm(forms.Form):
    """A campaign as the composer posts it; sections come as JSON edited by the page's script.

    `state()` gives whatever could be read even when the form has errors, so the check and the
    preview keep working while something is wrong.
    """

    name = forms.CharField(
        label="Campaign name",
        max_length=200,
        required=False,
        help_text="For you and your team; customers never see it.",
        error_messages={"max_length": too_long("The name")},
    )
    template = forms.ModelChoiceField(
        label="Template",
        queryset=MessageTemplate.objects.none(),
        empty_label="Choose a template…",
        help_text="Only templates WhatsApp has approved can be sent.",
        error_messages={
            "required": "Choose a template: the message is built on it.",
            "invalid_choice": "That template is not available any more; choose another.",
        },
    )
    header_value = forms.CharField(
        label="Header value {{1}}",
        required=False,
        strip=False,
        max_length=limits.MAX_HEADER_VALUE_LENGTH,
        error_messages={"max_length": too_long("The header value")},
    )
    thumbnail = forms.CharField(
        label="Thumbnail product",
        required=False,
        max_length=100,
        widget=forms.HiddenInput,
    )
    thumbnail_from_recipient = forms.BooleanField(
        label="Each recipient's first product heads their message",
        required=False,
        help_text="Their 'thumbnail' column, else the first of their own products; the "
        "thumbnail product above heads the others' messages.",
    )
    sections = forms.CharField(required=False, widget=forms.HiddenInput)
    triggered = forms.BooleanField(
        label="Always on: send what the HTTP API queues",
        required=False,
        help_text="Once started, the campaign stays open and sends each call's recipients "
        "within seconds (an abandoned cart, say); pause or cancel it as any other.",
    )
    send_from = forms.TimeField(
        label="Send only from",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time", "class": "form-control"}, format="%H:%M"),
        error_messages={"invalid": "Send only from: give a time of day, e.g. 10:00."},
    )
    send_until = forms.TimeField(
        label="until",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time", "class": "form-control"}, format="%H:%M"),
        help_text="In each recipient's own time zone; outside these hours their message waits "
        "for the next opening. An end before the start runs across midnight. Empty: any hour.",
        error_messages={"invalid": "Send until: give a time of day, e.g. 20:00."},
    )
    ref = ref_field("ref")
    ref1 = ref_field("ref1")
    ref2 = ref_field("ref2")
    wa_source = forms.ChoiceField(
        label="WA source",
        choices=[(s, s) for s in limits.WA_SOURCES],
        initial=limits.DEFAULT_WA_SOURCE,
        help_text="Where the message says it comes from, for Kaleyra's reports.",
    )
    sender = LoadedChoiceField(
        label="Send from",
        queryset=Sender.objects.none(),
        required=False,
        empty_label=None,
        help_text="The business number (and name) customers get it from.",
        error_messages={
            "invalid_choice": "That sender is not active any more; choose another.",
        },
    )

    def __init__(self, *args, templates=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = (
            templates if templates is not None else MessageTemplate.objects.all()
        )
        # Only active senders, the default first (and chosen unless the campaign has its own);
        # with one sender or none there is nothing to choose: the field stays hidden.
        senders = list(Sender.objects.active())
        field = self.fields["sender"]
        if len(senders) <= 1:
            field.widget = forms.HiddenInput()
        field.load(senders)
        self.senders = senders
        self.default_sender = next((s for s in senders if s.is_default), None)
        default = self.default_sender or (senders[0] if senders else None)
        field.initial = default.pk if default else None
        for name in ("name", "template", "wa_source", "sender"):
            widget = self.fields[name].widget
            widget.attrs["class"] = "form-select" if name != "name" else "form-control"
            widget.attrs["aria-describedby"] = f"id_{name}-help problems-{name}"
        self.fields["name"].widget.attrs["autocomplete"] = "off"
        # Each posted body value is a field too, so Django's checks (no NUL) name it.
        for key in self.data if self.is_bound else ():
            if BODY_FIELD.match(key):
                self.fields[key] = forms.CharField(required=False, strip=False)

    def choose_sender_again(self):
        """The campaign's own sender is no longer active: the select is shown (even with one
        sender) on the sender it will now go out from, so that the marketer sees the change."""
        field = self.fields["sender"]
        if field.widget.is_hidden:
            attrs = field.widget.attrs
            field.widget = forms.Select(attrs=attrs)
            field.load(self.senders)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("send_from"), cleaned.get("send_until")
        if (start is None) != (end is None) and not self.has_error("send_from"):
            if not self.has_error("send_until"):
                self.add_error(
                    "send_until" if end is None else "send_from",
                    "Sending hours: give both the start and the end, or neither (any hour).",
                )
        elif start is not None and start == end:
            self.add_error(
                "send_until", "Sending hours: the end must differ from the start (empty: any hour)."
            )
        return cleaned

    def body_values(self) -> list[str]:
        """body_1 … body_n as posted, in order; a gap counts as an empty value."""
        if not self.is_bound:
            return []
        numbers = [int(m.group(1)) for key in self.data if (m := BODY_FIELD.match(key))]
        return [self.data.get(f"body_{n}", "") for n in range(1, max(numbers, default=0) + 1)]

    def clean_sections(self) -> list[SectionDraft]:
        raw = self.cleaned_data["sections"] or "[]"
        unreadable = forms.ValidationError(
            "The sections could not be read. Reload the page; the other fields are kept."
        )
        try:
            data = jsonsafe.loads(raw)
        except jsonsafe.JsonRefused as exc:
            raise forms.ValidationError(
                f"The sections could not be read: {exc}. Reload the page; the other fields are "
                "kept."
            ) from None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise unreadable
        if len(data) > MAX_DRAFT_SECTIONS:
            raise forms.ValidationError(
                f"There are {len(data)} sections; even a draft holds at most {MAX_DRAFT_SECTIONS} "
                f"(WhatsApp shows {limits.MAX_SECTIONS})."
            )
        sections = []
        for number, item in enumerate(data, start=1):
            title = item.get("title") if isinstance(item.get("title"), str) else ""
            products = item.get("products") if isinstance(item.get("products"), list) else []
            if len(title) > MAX_DRAFT_TITLE_LENGTH:
                raise forms.ValidationError(
                    f"Section {number} title is {len(title)} characters; even a draft keeps at "
                    f"most {MAX_DRAFT_TITLE_LENGTH} (WhatsApp shows "
                    f"{limits.MAX_SECTION_TITLE_LENGTH})."
                )
            personalised = item.get("personalised") is True
            sections.append(
                SectionDraft(
                    title,
                    [] if personalised else [str(p) for p in products if isinstance(p, str)],
                    personalised,
                )
            )
        total = sum(len(s.retailer_ids) for s in sections)
        if total > MAX_DRAFT_PRODUCTS:
            raise forms.ValidationError(
                f"The sections hold {total} products; even a draft holds at most "
                f"{MAX_DRAFT_PRODUCTS} (WhatsApp shows {limits.MAX_PRODUCTS})."
            )
        return sections

    def state(self) -> ComposerState:
        """The composer's content: cleaned values where valid, what was typed where not."""
        self.is_valid()
        cleaned = self.cleaned_data

        def value(name):
            if name in cleaned:
                return cleaned[name]
            if not self.is_bound:
                return self.initial.get(name, "")
            # Refused as typed; a NUL would still break the catalog's lookups (PostgreSQL).
            return self.data.get(name, "").replace("\x00", "")

        sections = cleaned.get("sections")
        if sections is None:  # refused (e.g. a 101-character title): keep what was typed
            sections = lenient_sections(self.data.get("sections", "") if self.is_bound else "")
        return ComposerState(
            template=cleaned.get("template"),
            name=value("name"),
            header_value=value("header_value"),
            body_values=self.body_values(),
            thumbnail=value("thumbnail"),
            thumbnail_from_recipient=bool(cleaned.get("thumbnail_from_recipient")),
            triggered=bool(cleaned.get("triggered")),
            send_from=cleaned.get("send_from"),
            send_until=cleaned.get("send_until"),
            sections=sections,
            ref=value("ref"),
            ref1=value("ref1"),
            ref2=value("ref2"),
            wa_source=value("wa_source") or limits.DEFAULT_WA_SOURCE,
            sender=cleaned.get("sender"),
        )

    def problems(self) -> list[validation.Problem]:
        return form_problems(self)


class RecipientsForm(forms.Form):
    numbers = forms.CharField(
        label="Phone numbers",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="One per line (or separated by commas), each with its country code: "
        "+919876543210.",
    )
    csv_file = forms.FileField(
        label="Or upload a CSV file",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        help_text="A phone column, and optionally header, body_1 … body_n, ref, ref1 and ref2 "
        "columns whose values replace the campaign's for that recipient.",
    )

    audience_list = forms.ModelChoiceField(
        ContactList.objects.order_by("name"),
        label="Or send to a list",
        required=False,
        help_text="Its contacts as the send starts.",
    )
    audience_segment = forms.ModelChoiceField(
        Segment.objects.order_by("name"),
        label="Or send to a segment",
        required=False,
        help_text="Evaluated as the send starts: whoever matches then.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["csv_file"].help_text += f" At most {megabytes(conf.MPM_UPLOAD_MAX_BYTES)}."

    def clean_csv_file(self):
        """Refused by its declared size: Django has streamed it to a temporary file, unread."""
        upload = self.cleaned_data["csv_file"]
        limit = conf.MPM_UPLOAD_MAX_BYTES
        if upload and upload.size > limit:
            raise forms.ValidationError(size_refusal(upload.size, limit))
        return upload

    def clean(self):
        cleaned = super().clean()
        numbers = (cleaned.get("numbers") or "").strip()
        upload = cleaned.get("csv_file")
        chosen = [numbers, upload, cleaned.get("audience_list"), cleaned.get("audience_segment")]
        if numbers and upload:
            raise forms.ValidationError(
                "Paste numbers or upload a CSV file, not both: clear one of them."
            )
        if sum(map(bool, chosen)) > 1:
            raise forms.ValidationError(
                "Choose one audience: pasted numbers, a CSV file, a list or a segment."
            )
        if not any(chosen) and not self.errors:
            raise forms.ValidationError(
                "Paste at least one phone number, upload a CSV file, or choose a list or a segment."
            )
        return cleaned


class ProductSearchForm(forms.Form):
    """The composer's search-as-you-type; longer queries are cut, not refused (typing on)."""

    q = forms.CharField(label="Search products", required=False)

    def clean_q(self) -> str:
        return self.cleaned_data["q"][:100]


class ProductPasteForm(forms.Form):
    """SKUs pasted into a section: one a line or comma-separated (checked against the catalog by
    the service, not here), the section's products already there and how many more fit."""

    skus = forms.CharField(label="SKUs", max_length=60_000, widget=forms.Textarea)
    taken = forms.CharField(required=False, max_length=10_000)  # comma-separated
    room = forms.IntegerField(min_value=0, max_value=limits.MAX_PRODUCTS)

    def clean_taken(self) -> list[str]:
        return [sku for sku in self.cleaned_data["taken"].split(",") if sku]


class CampaignFilterForm(forms.Form):
    q = forms.CharField(label="Search by name", required=False, max_length=200)
    state = forms.ChoiceField(
        label="State", required=False, choices=[("", "Any state"), *Campaign.State.choices]
    )


class SenderFilterForm(forms.Form):
    """Campaigns of one sender (the default sender's include those that chose none); shown
    only when there are senders to tell apart."""

    sender = forms.ModelChoiceField(
        label="Sender",
        queryset=Sender.objects.all(),
        required=False,
        empty_label="Any sender",
        error_messages={"invalid_choice": "There is no such sender: showing every sender's."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.senders = list(Sender.objects.all())
        self.fields["sender"].widget.attrs["class"] = "form-select form-select-sm"

    @property
    def shown(self) -> bool:
        return len(self.senders) > 1

    def chosen(self) -> Sender | None:
        return self.cleaned_data.get("sender") if self.is_valid() else None


class ResultsDateForm(forms.Form):
    """The results table's date range: campaigns created on or after / on or before a day."""

    created_from = forms.DateField(
        label="Created from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(
        label="Created until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            raise forms.ValidationError("“Created from” must be on or before “Created until”.")
        return data


def code_choices(current: str = "") -> list[tuple[str, str]]:
    """Provider codes and transport outcomes a message can end with (no query needed)."""
    from campaigns.kaleyra.answers import KALEYRA_CODES, TRANSPORT_ANSWERS

    codes = [*KALEYRA_CODES, *TRANSPORT_ANSWERS]
    if current and current not in codes:
        codes.append(current)
    return [("", "Any code"), *((c, c) for c in codes)]


class ResultsFilterForm(forms.Form):
    state = forms.ChoiceField(
        label="State", required=False, choices=[("", "Any state"), *Message.State.choices]
    )
    code = forms.CharField(label="Provider code", required=False, max_length=20)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.data.get("code", "") if self.is_bound else ""
        self.fields["code"].widget = forms.Select(choices=code_choices(current))


class ApiTokenForm(forms.Form):
    """A new API token: what it is for and what it may do (the user's permissions still apply)."""

    name = forms.CharField(
        max_length=100, help_text="What it is for, so you know which to revoke: “Shop backend”."
    )
    can_read = forms.BooleanField(
        label="Read", required=False, initial=True, help_text="Templates, products, campaigns."
    )
    can_send = forms.BooleanField(
        label="Send", required=False, help_text="Send campaigns to recipients."
    )

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("can_read") or cleaned.get("can_send")):
            raise forms.ValidationError("Choose at least one scope: read, send or both.")
        return cleaned


class ImportedFileForm(forms.Form):
    """A file imported in the background (`upload_field`), refused by its declared size."""

    upload_field = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit = f" At most {megabytes(conf.MPM_UPLOAD_MAX_BYTES)}."
        self.fields[self.upload_field].help_text += limit

    def clean(self):
        """Django has streamed the file to a temporary file, unread: only its size is known."""
        cleaned = super().clean()
        upload = cleaned.get(self.upload_field)
        if upload is not None and upload.size > conf.MPM_UPLOAD_MAX_BYTES:
            self.add_error(self.upload_field, size_refusal(upload.size, conf.MPM_UPLOAD_MAX_BYTES))
        return cleaned


class ContactImportForm(ImportedFileForm):
    """A contact CSV and what to do with it; its rows are checked by a dry run, not here."""

    upload_field = "csv_file"

    csv_file = forms.FileField(
        label="Contact CSV file",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        help_text="A phone column (or country_code and phone_number), optionally name and "
        "time_zone; every other column becomes an attribute.",
    )
    mode = forms.ChoiceField(
        label="What to do",
        choices=ContactImport.Mode.choices,
        initial=ContactImport.Mode.ADD,
        widget=forms.RadioSelect,
    )


class CatalogImportForm(ImportedFileForm):
    """A Meta catalog feed; its rows are checked by a dry run, not here."""

    upload_field = "feed_file"

    feed_file = forms.FileField(
        label="Feed file (CSV or TSV)",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.txt,text/csv"}),
        help_text="Meta's feed format: id, title, availability and price (written 9.99 USD) "
        "at least; description, condition, sale_price, link, image_link, brand and "
        "item_group_id are read too.",
    )
    keep_missing = forms.BooleanField(
        label="Keep products that are not in this file",
        required=False,
        help_text="Leave this off when the file is the whole catalog: products not in it are "
        "then marked inactive (never deleted), as Meta does with a scheduled feed.",
    )


class ContactExportForm(forms.Form):
    consent = forms.ChoiceField(
        label="Consent", required=False, choices=[("", "Every contact"), *Consent.choices]
    )


class ContactListForm(forms.ModelForm):
    class Meta:
        model = ContactList
        fields = ["name"]


class ListNumbersForm(forms.Form):
    numbers = forms.CharField(
        label="Phone numbers to add",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="One per line (or separated by commas), each with its country code: "
        "+919876543210. Adding a number records no consent.",
    )


class SegmentForm(forms.ModelForm):
    """A segment's name and its rules (JSON, kept by the editor's script), each condition
    checked with the problems naming it."""

    rules = forms.CharField(
        required=False,
        initial="[]",
        widget=forms.Textarea(attrs={"rows": 6, "class": "font-monospace"}),
        help_text='A list of conditions, e.g. [{"op": "equals", "attribute": "city", '
        '"value": "Pune"}].',
    )

    class Meta:
        model = Segment
        fields = ["name", "rules"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["rules"] = json.dumps(self.instance.rules)

    def clean_rules(self):
        try:
            rules = jsonsafe.loads(self.cleaned_data["rules"] or "[]")  # none: every contact
        except jsonsafe.JsonRefused as exc:
            raise forms.ValidationError(
                f"The rules are not JSON this app can read: {exc}."
            ) from exc
        problems = segment_problems(rules)
        if problems:
            raise forms.ValidationError(problems)
        return rules
