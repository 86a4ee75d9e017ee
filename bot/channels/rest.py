"""Rasa's REST channel (same name, URL and answers) with its conversations kept in their own namespace.

Rasa makes the posted ``sender`` the conversation id, so anyone who can post could speak inside any
conversation — a WeChat user's (``wx:<OpenID>``) or a web-chat session's — and read what it was told. Here a
REST sender ``abc`` is the conversation ``rest:abc``: WeChat ids start with ``wx:`` and web-chat session ids
cannot contain ``:`` (bot/channels/socketio.py), so REST can only ever reach REST conversations. REST is for
development, tests and benchmarks; the production topology does not route it from the public port.

Messages longer than bot/channels/limits.py allows are answered kindly and never reach the assistant;
a body that is not ``{"sender": "…", "message": "…"}`` gets a 400 with the reason.
"""
from __future__ import annotations

import inspect
import logging
from asyncio import CancelledError
from typing import Any, Awaitable, Callable

import rasa.utils.endpoints
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.limits import too_long, too_long_reply

logger = logging.getLogger(__name__)

SENDER_PREFIX = "rest:"
MAX_SENDER_CHARS = 128


def conversation_id(sender: str) -> str:
    """The conversation (tracker) id of a REST ``sender``."""
    return SENDER_PREFIX + sender


def _bad_request(message: str) -> HTTPResponse:
    return response.json({"error": "bad_request", "message": message}, status=400)


class RestInput(RasaRestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        module = inspect.getmodule(self)
        bp = Blueprint(f"custom_webhook_{type(self).__name__}", module.__name__ if module else None)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request):
            try:
                body = request.json
            except Exception:  # Sanic refuses bodies that are not JSON
                body = None
            if not isinstance(body, dict):
                return _bad_request('the body must be a JSON object {"sender": "…", "message": "…"}')
            sender, text = body.get("sender"), body.get("message")
            if not isinstance(sender, str) or not sender or len(sender) > MAX_SENDER_CHARS:
                return _bad_request(f"sender must be a non-empty string of at most {MAX_SENDER_CHARS} characters")
            if not isinstance(text, str):
                return _bad_request("message must be a string")
            if too_long(text):
                return response.json([{"recipient_id": sender, "text": too_long_reply()}])
            conversation = conversation_id(sender)
            input_channel = self._extract_input_channel(request)
            metadata = self.get_metadata(request)
            if rasa.utils.endpoints.bool_arg(request, "stream", default=False):
                return response.stream(self.stream_response(on_new_message, text, conversation, input_channel,
                                                            metadata), content_type="text/event-stream")
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(text, collector, conversation, input_channel=input_channel,
                                                 metadata=metadata))
            except CancelledError:
                logger.error("REST message timed out")
            except Exception:
                logger.exception("REST message could not be processed")
            # The caller knows its conversation by the sender it chose.
            return response.json([dict(m, recipient_id=sender) for m in collector.messages])

        return bp

