"""The vendor account form, built per kind from kinds.py.

The form only checks shapes (a name, a number); what makes settings valid for a vendor is the
services' business, and their AccountInvalid errors are put back on the fields they name.
Secret inputs are write-only: never rendered back, blank keeps the stored value.
"""

from __future__ import annotations

from django import forms

from .kinds import KIND_CHOICES, KINDS
from .models import VendorAccount

MAX_INTERVAL = 7 * 24 * 60


class KindForm(forms.Form):
    """The first choice when adding an account: it decides which fields follow."""

    kind = forms.ChoiceField(label="Vendor", choices=KIND_CHOICES)


class AccountForm(forms.Form):
    name = forms.CharField(max_length=100)
    base_url = forms.CharField(
        label="Base URL",
        max_length=500,
        help_text="The vendor's API address, e.g. https://api.flyflow.dev/v1",
    )
    sync_interval_minutes = forms.IntegerField(
        label="Sync every (minutes)", min_value=1, max_value=MAX_INTERVAL, initial=60
    )
    enabled = forms.BooleanField(
        required=False,
        initial=True,
        help_text="Disabled accounts are not synced and their webhooks are refused.",
    )

    def __init__(self, *args, kind: str, account: VendorAccount | None = None, **kwargs):
        if account is not None:
            kwargs.setdefault("initial", self._initial(account))
        super().__init__(*args, **kwargs)
        self.kind, self.spec, self.account = kind, KINDS[kind], account
        for field in self.spec.config:
            # Required in the browser; the service says so again with the same message.
            attrs = {"required": True} if field.required else {}
            self.fields[f"config_{field.name}"] = forms.CharField(
                label=field.label,
                required=False,
                help_text=field.help_text,
                widget=forms.TextInput(attrs=attrs),
            )
        masked = account.masked_secrets() if account is not None else {}
        for field in self.spec.secrets:
            creating = account is None
            attrs = {"autocomplete": "new-password"}
            if creating and field.required:
                attrs["required"] = True
            self.fields[f"secret_{field.name}"] = forms.CharField(
                label=field.label,
                required=False,
                strip=False,
                help_text=field.help_text,
                widget=forms.PasswordInput(attrs=attrs, render_value=False),
            )
            # What the template shows beside the input instead of the value.
            self.fields[f"secret_{field.name}"].masked = masked.get(field.name, "")

    @staticmethod
    def _initial(account: VendorAccount) -> dict:
        initial = {
            "name": account.name,
            "base_url": account.base_url,
            "sync_interval_minutes": account.sync_interval_minutes,
            "enabled": account.enabled,
        }
        initial.update({f"config_{name}": value for name, value in account.config.items()})
        return initial

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = VendorAccount.objects.filter(name=name)
        if self.account is not None:
            clash = clash.exclude(pk=self.account.pk)
        if clash.exists():
            raise forms.ValidationError(f"An account named {name!r} exists already.")
        return name

    def config_fields(self):
        return [self[f"config_{field.name}"] for field in self.spec.config]

    def secret_fields(self):
        return [self[f"secret_{field.name}"] for field in self.spec.secrets]

    def _typed(self, prefix: str, fields) -> dict[str, str]:
        values = {field.name: self.cleaned_data[f"{prefix}_{field.name}"] for field in fields}
        return {name: value for name, value in values.items() if value}

    def config(self) -> dict[str, str]:
        return self._typed("config", self.spec.config)

    def secrets(self) -> dict[str, str]:
        """Only the secrets typed in: a blank one keeps its stored value."""
        return self._typed("secret", self.spec.secrets)

    def settings(self) -> dict:
        """What account_create and account_update take, secrets aside."""
        return {
            "name": self.cleaned_data["name"],
            "base_url": self.cleaned_data["base_url"].strip(),
            "config": self.config(),
            "sync_interval_minutes": self.cleaned_data["sync_interval_minutes"],
            "enabled": self.cleaned_data["enabled"],
        }

    def add_service_errors(self, errors: dict[str, str]) -> None:
        """Put AccountInvalid's messages on the fields they are about."""
        for name, message in errors.items():
            for candidate in (f"config_{name}", f"secret_{name}", name):
                if candidate in self.fields:
                    self.add_error(candidate, message)
                    break
            else:
                self.add_error(None, message)
