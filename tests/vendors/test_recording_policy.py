import pytest

from recordings_portal.vendors.kinds import validate_config
from recordings_portal.vendors.recording_policy import (
    PolicyInvalid,
    RecordingPolicy,
    decide,
    parse_policy,
    policy_from_config,
)

ALICE = "sip:+46701234567@pbx.sales.example.com"
BOB = "sip:+14155550123@192.0.2.10;user=phone"
CAROL = "sip:carol@support.example.org"


def test_it_records_every_call_by_default():
    assert policy_from_config({}) == RecordingPolicy("all")
    assert decide(policy_from_config({}), ALICE, BOB) is True
    assert decide(parse_policy("", None), "", "") is True


def test_it_records_nothing_with_none_whatever_the_patterns():
    policy = parse_policy("none", "+4670*")
    assert decide(policy, ALICE, BOB) is False


@pytest.mark.parametrize(
    ("patterns", "caller", "callee", "recorded"),
    [
        ("+4670*", ALICE, BOB, True),
        ("+4670*", BOB, CAROL, False),
        ("+1 (415) 555-01??", CAROL, BOB, True),  # visual separators and ? wildcards
        ("+1415555012?", CAROL, BOB, True),
        ("+141555501", CAROL, BOB, False),  # a number pattern matches the whole number
        ("@support.example.org", CAROL, BOB, True),
        ("@*.example.com", BOB, ALICE, True),  # pbx.sales.example.com
        ("@example.com", BOB, ALICE, False),  # a subdomain is not the domain
        ("@192.0.2.10", ALICE, BOB, True),
        ("carol@support.example.org", BOB, CAROL, True),
        ("CAROL@Support.Example.org", BOB, CAROL, True),  # addresses are not case-sensitive
        ("sip:carol@*.example.org", BOB, CAROL, True),
        ("caller:+4670*", ALICE, BOB, True),
        ("caller:+4670*", BOB, ALICE, False),
        ("callee:@support.example.org", BOB, CAROL, True),
        ("+999*, +4670*", ALICE, BOB, True),
        ("+999*; @nowhere.example\n+1415*", ALICE, BOB, True),
        ("tel:+4670*", "tel:+46701234567", "", True),
        ("+4670*", "+46 70 123 45 67", "", True),
        ("+4670*", "<sip:+46701234567@pbx.example.com:5060;transport=tcp>", "", True),
    ],
)
def test_it_records_only_calls_matching_a_pattern(patterns, caller, callee, recorded):
    assert decide(parse_policy("matching", patterns), caller, callee) is recorded


def test_it_lets_an_exclusion_win_over_everything():
    matching = parse_policy("matching", "@*.example.com, !+1415*")
    assert decide(matching, ALICE, CAROL) is True
    assert decide(matching, ALICE, BOB) is False
    everything = parse_policy("all", "!callee:+1415*")
    assert decide(everything, ALICE, CAROL) is True
    assert decide(everything, ALICE, BOB) is False
    assert decide(everything, BOB, ALICE) is True  # the exclusion is about the callee only


def test_it_considers_further_participants_for_patterns_about_either_side():
    policy = parse_policy("matching", "@support.example.org")
    assert decide(policy, ALICE, BOB, {"participants": [CAROL]}) is True
    assert decide(parse_policy("matching", "callee:@support.example.org"), ALICE, BOB, {
        "participants": [CAROL]
    }) is False  # fmt: skip
    assert decide(parse_policy("all", "!carol@*"), ALICE, BOB, {"participants": [CAROL]}) is False


def test_it_matches_nothing_when_the_participants_are_unknown():
    assert decide(parse_policy("matching", "+4670*"), "", "") is False
    assert decide(parse_policy("all", "!+4670*"), "", "") is True


@pytest.mark.parametrize(
    ("mode", "patterns", "field", "message"),
    [
        ("sometimes", "", "record_calls", "must be one of all, none, matching"),
        ("matching", "", "record_patterns", "needs at least one pattern"),
        ("matching", "!+1900*", "record_patterns", "needs at least one pattern"),
        ("all", "+4670*", "record_patterns", "choose 'matching'"),
        ("matching", "+46-70-abc", "record_patterns", "neither a number"),
        ("matching", "+46+70", "record_patterns", "neither a number"),
        ("matching", "@exa mple.com", "record_patterns", "is not a domain"),
        ("matching", "a b@example.com", "record_patterns", "is not the user part"),
        ("matching", "caller:", "record_patterns", "is empty"),
        ("matching", "agent:+4670*", "record_patterns", "neither a number"),
    ],
)
def test_it_refuses_a_policy_it_cannot_follow_naming_the_field(mode, patterns, field, message):
    with pytest.raises(PolicyInvalid) as refused:
        parse_policy(mode, patterns)
    assert message in refused.value.errors[field]


def test_it_names_every_bad_pattern_at_once():
    with pytest.raises(PolicyInvalid) as refused:
        parse_policy("matching", "+4670*, @bad domain, +46x")
    message = refused.value.errors["record_patterns"]
    assert "'@bad domain'" in message and "'+46x'" in message


def test_it_is_checked_with_the_account_settings():
    base = {"domain": "sip.example.com", "bucket": "b.example", "storage_url": "/bucket"}
    assert validate_config("iotcomms", {**base, "record_calls": "matching"}) == {
        "record_patterns": (
            "Recording only matching calls needs at least one pattern that is not an exclusion."
        )
    }
    valid = {**base, "record_calls": "matching", "record_patterns": "+4670*"}
    assert validate_config("iotcomms", valid) == {}
    assert "record_patterns" in validate_config("iotcomms", {**base, "record_patterns": 42})
