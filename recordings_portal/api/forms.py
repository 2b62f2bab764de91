from django import forms


class TokenForm(forms.Form):
    name = forms.CharField(
        label="What is it for?",
        max_length=100,
        help_text="e.g. “Weekly QA export”, so you know which token to revoke later.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
