"""The cached action-result validation (bot/rasa_fixes.py) accepts and rejects exactly what Rasa's own does."""
import pytest
from jsonschema import ValidationError

from bot import rasa_fixes


def test_action_results_are_validated_as_before():
    from rasa.core.actions.action import RemoteAction

    rasa_fixes.install()
    action = RemoteAction("action_answer_knowledge", None)
    good = {"events": [{"event": "slot", "name": "program", "value": "dibao", "timestamp": None}],
            "responses": [{"text": "您好"}]}
    assert action._validate_action_result(good) is True
    with pytest.raises(ValidationError) as caught:
        action._validate_action_result({"events": [{"event": "slot"}], "responses": []})  # a SlotSet needs a name
    assert "Failed to validate Action server response" in caught.value.message
    with pytest.raises(ValidationError):
        action._validate_action_result({"events": "not a list"})
