"""Admin forms: the campaign form's body values as plain lines, and the two send forms."""

from django import forms

from . import validation
from .models import Campaign


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


class CampaignAdminForm(forms.ModelForm):
    body_values = LinesField(
        label="Body values",
        help_text="One per line, in order: {{1}}, {{2}} …",
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "template",
            "thumbnail_product",
            "header_value",
            "body_values",
            "ref",
            "ref1",
            "ref2",
            "wa_source",
        ]


class SendTestForm(forms.Form):
    to = forms.CharField(
        label="Phone number",
        max_length=32,
        help_text="With its country code, e.g. +919876543210.",
    )

    def clean_to(self):
        number, reason = validation.normalise_phone(self.cleaned_data["to"])
        if number is None:
            raise forms.ValidationError(reason)
        return number


class SendToNumbersForm(forms.Form):
    numbers = forms.CharField(
        label="Phone numbers",
        widget=forms.Textarea(attrs={"rows": 10, "cols": 40}),
        help_text="Separated by commas or new lines, each with its country code.",
    )
