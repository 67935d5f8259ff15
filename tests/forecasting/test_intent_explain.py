import pytest

from forecasting.explain import check_draft, record_text, template, unknown_numbers
from forecasting.intent import INTENT_SCHEMA, Intent, IntentError, parse_rules, validate_intent

RECORD = {
    "outcome": "clamped",
    "asset": "bat1",
    "value_kw": 180.0,
    "requested_kw": 250.0,
    "start": "18:30",
    "end": "18:45",
    "reason": "feeder import 1230 kW above threshold 1100 kW",
    "constraint": "soc.window",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hold battery 2 at 200 kW until 19:00", ("hold", "bat2", 200.0, "19:00")),
        ("Charge bat1 150kW", ("charge", "bat1", -150.0, "")),
        ("discharge battery 1 at 2 kW till 7:05.", ("discharge", "bat1", 2.0, "07:05")),
        ("curtail pv 1 by 30% until 9:30", ("curtail", "pv1", 30.0, "09:30")),
        ("stop battery 1", ("stop", "bat1", 0.0, "")),
    ],
)
def test_rules_parse_common_phrasings(text: str, expected: tuple[object, ...]) -> None:
    intent = parse_rules(text)
    assert intent is not None
    assert (intent.action, intent.asset, intent.value, intent.until) == expected


def test_rules_decline_what_they_do_not_know() -> None:
    assert parse_rules("please make the evening peak go away") is None
    assert parse_rules("hold battery 2 at lots") is None


def test_validation_names_the_field() -> None:
    with pytest.raises(IntentError, match=r"intent\.until"):
        validate_intent({"action": "hold", "asset": "bat1", "value": 1, "until": "25:00"})
    with pytest.raises(IntentError, match=r"intent\.action"):
        validate_intent({"action": "explode", "asset": "bat1", "value": 1, "until": ""})
    with pytest.raises(IntentError, match=r"intent\.x: Extra inputs"):
        validate_intent({"action": "hold", "asset": "b", "value": 1, "until": "", "x": 1})


def test_schema_matches_the_model_fields() -> None:
    assert set(INTENT_SCHEMA["required"]) == set(Intent.model_fields)


def test_draft_with_only_record_numbers_is_kept() -> None:
    draft = (
        "bat1 was clamped to 180 kW (asked 250 kW) from 18:30 to 18:45 since import hit 1230 kW."
    )
    result = check_draft(draft, RECORD)
    assert result.source == "model" and result.text == draft


def test_invented_number_falls_back_to_template() -> None:
    draft = "bat1 discharges 200 kW until 19:00 to keep import under 1100 kW."
    result = check_draft(draft, RECORD)
    assert result.source == "template"
    assert result.text == template(RECORD)
    assert "200" in result.unknown_numbers and "19:00" in result.unknown_numbers
    assert unknown_numbers(result.text, RECORD) == ()  # the template itself passes the check


def test_record_text_lists_every_field() -> None:
    text = record_text(RECORD)
    assert all(f"{k}: " in text for k in RECORD)
    assert check_draft("   ", RECORD).reason == "model draft was empty"


def test_model_intents_must_be_grounded_in_the_request() -> None:
    from forecasting.intent import ungrounded

    invented = Intent(action="curtail", asset="pv1", value=40, until="19:00")
    assert len(ungrounded(invented, "what's the weather")) == 4
    wrong_value = Intent(action="hold", asset="bat2", value=40, until="19:00")
    assert ungrounded(wrong_value, "hold battery 2 at 200 kW until 19:00") == [
        "value 40 is not in the request"
    ]
    ok = Intent(action="discharge", asset="bat1", value=120, until="19:30")
    assert ungrounded(ok, "discharge bat1 with 120 kilowatts until 7:30 pm") == []


def test_wrong_asset_kind_and_rambling_drafts_are_caught() -> None:
    from forecasting.intent import ungrounded

    wrong_kind = Intent(action="discharge", asset="pv1", value=120, until="")
    assert ungrounded(wrong_kind, "discharge battery 1 with 120 kW") == [
        "asset 'pv1' is not the kind the request names"
    ]
    ramble = (
        "bat1 is at 180 kW. the feeder is feeding a feeder that is feeding "
        "a feeder that is feeding a feeder."
    )
    result = check_draft(ramble, RECORD)
    assert result.source == "template" and result.reason == "model draft repeats itself"
    long = "bat1 was clamped to 180 kW. It ran from 18:30. It ended at 18:45. More text."
    assert check_draft(long, RECORD).text == "bat1 was clamped to 180 kW. It ran from 18:30."
