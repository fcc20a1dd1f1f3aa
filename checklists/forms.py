"""Forms for the pages: they check the shape of what was posted; the services check the rules."""

from django import forms

from checklists.models import Checklist, ItemState
from checklists.parsing import MAX_BYTES

#: What a browser's `datetime-local` input sends (the page says the time is UTC).
LOCAL_TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


class ItemStateForm(forms.Form):
    state = forms.ChoiceField(label="State", choices=ItemState.State.choices, required=False)
    note = forms.CharField(label="Note", required=False, max_length=10_000, widget=forms.Textarea)
    evidence_url = forms.URLField(label="Evidence link", required=False, max_length=1000, assume_scheme="https")
    seen = forms.ChoiceField(label="State seen", choices=ItemState.State.choices, required=False)
    assignee = forms.CharField(label="Assigned to", required=False, max_length=150)
    expires_at = forms.DateTimeField(label="Waived until", required=False, input_formats=LOCAL_TIME_FORMATS)
    for_days = forms.IntegerField(label="Waived for days", required=False, min_value=1, max_value=3650)


class ItemsBulkForm(forms.Form):
    """Rows picked on the page (`pick`: "state:key", the state its person saw), one state, one note."""

    pick = forms.MultipleChoiceField(label="Items", required=False)
    state = forms.ChoiceField(label="State", choices=ItemState.State.choices)
    note = forms.CharField(label="Note", required=False, max_length=10_000, widget=forms.Textarea)

    def __init__(self, data):
        super().__init__(data)
        self.fields["pick"].choices = [(value, value) for value in data.getlist("pick")]

    def picked(self) -> dict[str, str]:
        """{key: the state seen}, in the page's order."""
        seen = {}
        for value in self.cleaned_data["pick"]:
            state, _, key = value.partition(":")
            if key:
                seen[key] = state
        return seen


class CommentForm(forms.Form):
    text = forms.CharField(label="Comment", max_length=10_000, widget=forms.Textarea)


class SignOffForm(forms.Form):
    role = forms.CharField(label="Role", max_length=20)
    digest = forms.CharField(label="Digest", max_length=64)
    looked_at = forms.DateTimeField(label="Looked at", required=False)  # when the page was drawn
    comment = forms.CharField(label="Comment", required=False, max_length=10_000, widget=forms.Textarea)


class ReopenForm(forms.Form):
    reason = forms.CharField(label="Reason", required=False, max_length=10_000, widget=forms.Textarea)


class DueForm(forms.Form):
    due_at = forms.DateTimeField(label="Due (UTC)", required=False, input_formats=LOCAL_TIME_FORMATS)


class DeploymentCreateForm(forms.Form):
    checklist = forms.ModelChoiceField(
        label="Checklist", queryset=Checklist.objects.all(), to_field_name="slug", empty_label=None
    )
    release = forms.CharField(label="Release", max_length=200, help_text="A tag or a git sha, e.g. v1.4.2")
    due_at = forms.DateTimeField(label="Due (UTC)", required=False, input_formats=LOCAL_TIME_FORMATS)


class ImportForm(forms.Form):
    name = forms.CharField(
        label="Name", required=False, max_length=200,
        help_text="Leave empty to use the file's first # heading.",
    )
    file = forms.FileField(label="Markdown file", required=False)
    markdown = forms.CharField(label="Or paste the Markdown", required=False, strip=False, widget=forms.Textarea)

    def source(self) -> bytes:
        """The checklist as bytes: the uploaded file as is, or the pasted text with browser CRLFs undone."""
        upload = self.cleaned_data.get("file")
        if upload is not None:
            if upload.size > MAX_BYTES:
                return upload.read(MAX_BYTES + 1)
            return upload.read()
        text = self.cleaned_data.get("markdown") or ""
        return text.replace("\r\n", "\n").encode("utf-8")

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("file") and not (cleaned.get("markdown") or "").strip():
            raise forms.ValidationError("Choose a Markdown file or paste the checklist.")
        return cleaned


class HistoryFilterForm(forms.Form):
    item = forms.CharField(label="Item", required=False)
    person = forms.CharField(label="Person", required=False)
    kind = forms.CharField(label="Kind", required=False)
