"""Which calls an account records: the portal's answer to iotcomms' /newCall.

An admin sets two things per account: `record_calls` ("all", the default; "none"; or
"matching") and `record_patterns`, separated by commas, semicolons or new lines:

    +4670*            a number: digits with * (any digits) and ? (one digit); spaces, dashes,
                      dots and brackets are ignored, so "+46 70-123 45 67" works too
    @sales.example.com, @*.example.com
                      a SIP domain (the host of a participant's address)
    alice@example.com a whole address (user@domain), with the same wildcards
    caller:+1800*     a pattern about one side only (caller: or callee:)
    !+1911*           an exclusion: a call it matches is never recorded

"matching" records a call when any participant matches an inclusion; "all" records every call
but excluded ones. An exclusion wins over everything. Plain Python: no Django, no HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

MODES = ("all", "none", "matching")
SIDES = ("caller", "callee")
SEPARATORS = re.compile(r"[,;\n]+")
VISUAL = re.compile(r"[\s\-.()/]")  # what people write inside phone numbers
NUMBER = re.compile(r"\+?[0-9*?]+")
HOST = re.compile(r"[a-z0-9*?]([a-z0-9*?.-]*[a-z0-9*?])?")
USER = re.compile(r"[a-z0-9_.!~%+*?'-]+")
SCHEME = re.compile(r"^(sips?|tel):", re.IGNORECASE)


class PolicyInvalid(ValueError):
    """What is wrong with a policy, by config field name."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(errors.values()))


@dataclass(frozen=True)
class Pattern:
    text: str  # as the admin wrote it, for messages
    side: str  # "caller", "callee" or "" for either
    kind: str  # "number", "domain" or "address"
    glob: str  # normalised, for fnmatchcase

    def matches(self, party: Party) -> bool:
        if self.kind == "number":
            return bool(party.number) and fnmatchcase(party.number, self.glob)
        if self.kind == "domain":
            return bool(party.host) and fnmatchcase(party.host, self.glob)
        return bool(party.user and party.host) and fnmatchcase(
            f"{party.user}@{party.host}", self.glob
        )


@dataclass(frozen=True)
class RecordingPolicy:
    mode: str = "all"
    include: tuple[Pattern, ...] = ()
    exclude: tuple[Pattern, ...] = ()


@dataclass(frozen=True)
class Party:
    """A participant's address taken apart: sip:+4670123@pbx.example.com;user=phone."""

    number: str = ""  # "+4670123" when the user part is a phone number
    user: str = ""
    host: str = ""

    @classmethod
    def parse(cls, address: str) -> Party:
        text = SCHEME.sub("", (address or "").strip().strip("<>").strip())
        text = re.split(r"[;?>]", text, maxsplit=1)[0]
        user, _, host = text.rpartition("@") if "@" in text else (text, "", "")
        host = host.split(":", 1)[0].lower()  # a port is not part of the domain
        digits = VISUAL.sub("", user)
        number = digits if re.fullmatch(r"\+?[0-9]+", digits) else ""
        return cls(number=number, user=user.lower(), host=host)


def parse_policy(mode: str | None, patterns: str | None) -> RecordingPolicy:
    """The policy from an account's settings; PolicyInvalid names what to fix."""
    errors: dict[str, str] = {}
    mode = (mode or "all").strip().lower() if isinstance(mode, str | None) else mode
    if mode not in MODES:
        errors["record_calls"] = f"Record calls must be one of {', '.join(MODES)}, not {mode!r}."
    if patterns is not None and not isinstance(patterns, str):
        errors["record_patterns"] = "Recording patterns must be text."
        patterns = ""
    include, exclude, problems = [], [], []
    for text in (part.strip() for part in SEPARATORS.split(patterns or "")):
        if not text:
            continue
        try:
            pattern = _pattern(text)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        (exclude if text.startswith("!") else include).append(pattern)
    if problems:
        errors["record_patterns"] = " ".join(problems)
    elif mode == "matching" and not include:
        errors["record_patterns"] = (
            "Recording only matching calls needs at least one pattern that is not an exclusion."
        )
    elif mode == "all" and include:
        listed = ", ".join(p.text for p in include)
        errors["record_patterns"] = (
            f"Every call is recorded, so {listed} changes nothing: choose 'matching' to record "
            "only those calls, or write them as exclusions (!pattern)."
        )
    if errors:
        raise PolicyInvalid(errors)
    return RecordingPolicy(mode, tuple(include), tuple(exclude))


def policy_from_config(config: Mapping) -> RecordingPolicy:
    return parse_policy(config.get("record_calls"), config.get("record_patterns"))


def policy_errors(config: Mapping) -> dict[str, str]:
    """Config field name -> message (empty when the policy is valid): for validate_config."""
    try:
        policy_from_config(config)
    except PolicyInvalid as exc:
        return exc.errors
    return {}


def _pattern(text: str) -> Pattern:
    body = text[1:].strip() if text.startswith("!") else text
    side = ""
    head, colon, rest = body.partition(":")
    if colon and head.strip().lower() in SIDES:
        side, body = head.strip().lower(), rest.strip()
    body = SCHEME.sub("", body).strip()
    where = f"Pattern {text!r}"
    if not body:
        raise ValueError(f"{where} is empty.")
    if "@" in body:
        user, _, host = body.lower().rpartition("@")
        if not HOST.fullmatch(host):
            raise ValueError(f"{where}: {host!r} is not a domain.")
        if not user:
            return Pattern(text, side, "domain", host)
        if not USER.fullmatch(user):
            raise ValueError(f"{where}: {user!r} is not the user part of an address.")
        return Pattern(text, side, "address", f"{user}@{host}")
    number = VISUAL.sub("", body)
    if not NUMBER.fullmatch(number):
        raise ValueError(
            f"{where} is neither a number (+4670*), a domain (@example.com) nor an address "
            "(alice@example.com)."
        )
    return Pattern(text, side, "number", number)


def decide(
    policy: RecordingPolicy, caller: str, callee: str, metadata: Mapping | None = None
) -> bool:
    """Whether to record a call between these addresses (SIP URIs, tel: URIs or numbers).

    `metadata` may list further `participants` (conference legs), which side-less patterns
    consider too. A call whose participants are unknown matches no pattern.
    """
    if policy.mode == "none":
        return False
    sides = {"caller": [Party.parse(caller)], "callee": [Party.parse(callee)]}
    others = [Party.parse(p) for p in (metadata or {}).get("participants") or ()]
    everyone = sides["caller"] + sides["callee"] + others

    def hit(patterns: Iterable[Pattern]) -> bool:
        return any(
            pattern.matches(party)
            for pattern in patterns
            for party in (sides[pattern.side] if pattern.side else everyone)
        )

    if hit(policy.exclude):
        return False
    return policy.mode == "all" or hit(policy.include)
