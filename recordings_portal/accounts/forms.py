"""Forms for users: details and roles, and on creation how the user gets a password.

The forms check shapes and passwords; uniqueness and the last-admin rule are the services'
business, and their errors are put back on the fields they name. Password inputs are never
rendered back.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import SetPasswordMixin
from django.contrib.auth.models import User
from django.contrib.auth.validators import UnicodeUsernameValidator

from .roles import ROLE_DESCRIPTIONS, ROLES

INVITE, PASSWORD = "invite", "password"
ACCESS_CHOICES = [
    (INVITE, "Give them a one-time link to set their own password"),
    (PASSWORD, "Set an initial password now"),
]
ROLE_CHOICES = [(role, role) for role in ROLES]


class UserForm(forms.Form):
    """What an admin can change on any user: name, email and roles."""

    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    email = forms.EmailField(label="Email", max_length=254, required=False)
    roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="A user with no role can sign in but sees nothing.",
    )

    def role_options(self) -> list[dict]:
        """Each role with its description and whether it is ticked, for the template."""
        value = self["roles"].value() or []
        return [
            {"name": role, "description": ROLE_DESCRIPTIONS[role], "checked": role in value}
            for role in ROLES
        ]

    def details(self) -> dict:
        return {name: self.cleaned_data[name] for name in ("first_name", "last_name", "email")}

    def add_service_errors(self, errors: dict[str, str]) -> None:
        for name, message in errors.items():
            self.add_error(name if name in self.fields else None, message)


class UserCreateForm(SetPasswordMixin, UserForm):
    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="What they sign in with: letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    access = forms.ChoiceField(
        label="Password",
        choices=ACCESS_CHOICES,
        initial=INVITE,
        widget=forms.RadioSelect,
    )
    password1 = forms.CharField(
        label="Initial password",
        required=False,
        strip=False,
        help_text=password_validation.password_validators_help_text_html(),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
    password2 = forms.CharField(
        label="Initial password again",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )

    field_order = ["username", "first_name", "last_name", "email", "roles", "access"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("access") != PASSWORD:
            # An invitation: whatever was typed in the password fields is dropped, not kept.
            cleaned["password1"] = cleaned["password2"] = ""
            return cleaned
        for name in ("password1", "password2"):
            if not cleaned.get(name):
                self.add_error(name, "Type the initial password in both fields.")
        self.validate_passwords()
        # The validators compare the password with the user's details (similarity), so they
        # are given an unsaved user carrying the details typed.
        provisional = User(
            username=cleaned.get("username", ""),
            first_name=cleaned.get("first_name", ""),
            last_name=cleaned.get("last_name", ""),
            email=cleaned.get("email", ""),
        )
        self.validate_password_for_user(provisional, "password1")
        return cleaned

    def password(self) -> str | None:
        return self.cleaned_data["password1"] or None


def initial_for(user: User, roles: list[str]) -> dict:
    return {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "roles": roles,
    }
