"""Fixes to Rasa 3.6 itself, installed when the Rasa server imports Huimin's tracker store (every
``bot/endpoints.yml`` configuration loads it, so every Rasa process gets them).

Action-result validation: ``RemoteAction._validate_action_result`` calls ``jsonschema.validate`` on every
custom-action response, and ``jsonschema.validate`` first checks the *schema* against its meta-schema and builds
a new validator each time. Profiled under load (py-spy, 10 concurrent conversations), that was 37 % of the Rasa
process's CPU — more than TED, NLU and the tracker store together. The same schema is now checked once and its
validator reused; responses are validated exactly as before (same schema, same draft, same error message).
"""
from __future__ import annotations

from typing import Any, Dict, Text

_installed = False


def _cached_validator():
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def install() -> None:
    global _installed
    if _installed:
        return
    from jsonschema import ValidationError
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    validator = _cached_validator()

    def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
        error = best_match(validator.iter_errors(result))
        if error is None:
            return True
        assert isinstance(error, ValidationError)
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the Action "
            f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions")
        raise error

    RemoteAction._validate_action_result = _validate_action_result
    _installed = True
