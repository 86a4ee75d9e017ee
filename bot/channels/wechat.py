"""WeChat Official Account (公众号) channel for Rasa: ``GET/POST /webhooks/wechat/webhook``.

WeChat gives a push 5 seconds and retries it up to three times, so every accepted push is answered at once with
``success``, de-duplicated in shared storage, and processed in the background; the answer goes out through the
customer-service API. wechatpy does the protocol (signatures, AES, parsing); defusedxml screens the XML first.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import re
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import WeChatSigner

from bot.channels.content import ChannelContent, load_content
from bot.channels.limits import too_long, too_long_reply
from bot.channels.store import ChannelStore, make_store
from bot.channels.wechat_api import WeChatAPI, user_ref
from bot.privacy import install_log_redaction, to_halfwidth
from bot.settings import get_settings

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # real pushes are a few KB; anything near this is not from WeChat
MAX_CLOCK_SKEW = 300  # seconds; WeChat's retries arrive within ~15 s of the original
# A (timestamp, nonce) pair is accepted once: remembered for as long as its timestamp is acceptable.
NONCE_TTL = 2 * MAX_CLOCK_SKEW + 60
SEEN_TTL = 24 * 3600
CHOICES_TTL = 24 * 3600
TEXT_LIMIT_BYTES = 2000  # one customer-service text message
USER_MESSAGE_QUOTA = 5  # messages allowed per user message (48 h window)
EVENT_QUOTA = 3  # per follow / menu click (1 min window)
_NUMBER_RE = re.compile(r"\d{1,2}")
# Conversation ids of WeChat users: the prefix keeps them apart from web-chat session ids (which cannot contain
# ":"), so no web page can name a WeChat user's conversation, and staff see where a conversation comes from.
SENDER_PREFIX = "wx:"
# A shared location goes to the assistant as this intent (actions/booking.py suggests the nearest sites),
# rounded to 3 decimals (about 100 m): enough to find a site, and the conversation keeps no exact home position.
LOCATION_INTENT = "share_location"
LOCATION_DECIMALS = 3


def nonce_key(timestamp: str, nonce: str) -> str:
    # Hashed: the nonce is whatever the request says (bounded key length in the dedup store).
    return "nonce:" + hashlib.sha256(f"{timestamp}:{nonce}".encode()).hexdigest()


def sender_id(openid: str) -> str:
    return SENDER_PREFIX + openid


def openid_of(conversation_id: str) -> str:
    return conversation_id[len(SENDER_PREFIX):] if conversation_id.startswith(SENDER_PREFIX) else conversation_id


class RejectedPush(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message

    def response(self) -> HTTPResponse:
        return response.json({"error": self.error, "message": self.message}, status=self.status)


def _sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def safe_xml(data: str) -> Element:
    """Parse untrusted XML with no DTD, no entities and no external references."""
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise RejectedPush(400, "forbidden_xml", f"XML with {type(exc).__name__} is not accepted") from exc
    except (ParseError, ValueError) as exc:
        raise RejectedPush(400, "bad_xml", "the body is not well-formed XML") from exc


def pack_texts(parts: List[str], limit: int = TEXT_LIMIT_BYTES) -> List[str]:
    """Join paragraphs into as few messages as fit ``limit`` bytes each (WeChat counts UTF-8 bytes)."""
    pieces: List[str] = []
    for part in parts:
        if len(part.encode()) <= limit:
            pieces.append(part)
            continue
        line_buf = ""
        for ch in part:  # a single oversized paragraph: cut it, preferring line ends
            if len((line_buf + ch).encode()) > limit:
                cut = line_buf.rfind("\n")
                if cut > 0:
                    pieces.append(line_buf[:cut])
                    line_buf = line_buf[cut + 1:]
                else:
                    pieces.append(line_buf)
                    line_buf = ""
            line_buf += ch
        if line_buf:
            pieces.append(line_buf)
    chunks: List[str] = []
    for piece in pieces:
        if chunks and len((chunks[-1] + "\n\n" + piece).encode()) <= limit:
            chunks[-1] += "\n\n" + piece
        else:
            chunks.append(piece)
    return chunks


class WeChatOutput(OutputChannel):
    """Collects one turn's bot messages and sends them merged, within the per-message quota.

    Quick replies become numbered lines ("回复 1 查看所需材料"); the payloads are remembered per user so that a
    reply of just the number means the button. Unbuffered instances (proactive messages) send at once.
    """

    def __init__(self, api: WeChatAPI, store: ChannelStore, content: ChannelContent,
                 quota: int = USER_MESSAGE_QUOTA, buffered: bool = True) -> None:
        self.api, self.store, self.content = api, store, content
        self.quota, self.buffered = quota, buffered
        self.pending: List[Dict[str, Any]] = []

    @classmethod
    def name(cls) -> str:
        return "wechat"

    async def _add(self, recipient_id: str, item: Dict[str, Any]) -> None:
        self.pending.append(item)
        if not self.buffered:
            await self.flush(recipient_id)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        if kwargs.get("human_agent"):  # a staff reply relayed by the console: say who is speaking
            from bot.handoff.wording import wechat_staff_text
            text = wechat_staff_text(text, kwargs["human_agent"])
        await self._add(recipient_id, {"text": text})

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: List[Dict[str, Any]],
                                     **kwargs: Any) -> None:
        await self._add(recipient_id, {"text": text, "buttons": buttons})

    async def send_quick_replies(self, recipient_id: str, text: str, quick_replies: List[Dict[str, Any]],
                                 **kwargs: Any) -> None:
        await self._add(recipient_id, {"text": text, "buttons": quick_replies})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._add(recipient_id, {"image": image})

    async def send_attachment(self, recipient_id: str, attachment: Any, **kwargs: Any) -> None:
        if isinstance(attachment, str):
            await self._add(recipient_id, {"text": attachment})
        elif isinstance(attachment, dict) and attachment.get("type") == "image":
            src = (attachment.get("payload") or {}).get("src")
            if src:
                await self._add(recipient_id, {"image": src})

    async def send_custom_json(self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any) -> None:
        # Custom payloads are for the web page; WeChat gets their text if they carry one.
        if isinstance(json_message, dict) and isinstance(json_message.get("text"), str):
            await self._add(recipient_id, {"text": json_message["text"]})

    def _render(self, items: List[Dict[str, Any]]):
        parts: List[str] = []
        payloads: List[str] = []
        for item in items:
            lines = []
            if item.get("text"):
                lines.append(str(item["text"]).strip())
            for button in item.get("buttons") or []:
                payloads.append(str(button.get("payload") or button.get("title") or ""))
                lines.append(self.content.texts["choice_line"].format(
                    number=len(payloads), title=button.get("title", "")))
            if item.get("image"):
                lines.append(self.content.texts["image_line"].format(url=item["image"]))
            if lines:
                parts.append("\n".join(lines))
        return parts, payloads

    async def flush(self, recipient_id: str) -> None:
        recipient_id = openid_of(recipient_id)
        items, self.pending = self.pending, []
        parts, payloads = self._render(items)
        if not parts:
            return
        # The newest numbered list is the one a bare number refers to; no list means numbers are just numbers.
        if payloads:
            await self.store.set_choices(recipient_id, payloads, CHOICES_TTL)
        else:
            await self.store.clear_choices(recipient_id)
        chunks = pack_texts(parts)
        for i, chunk in enumerate(chunks):
            body = {"touser": recipient_id, "msgtype": "text", "text": {"content": chunk}}
            if i >= self.quota:
                logger.error("WeChat reply to user %s exceeds the per-message quota (%d messages); recorded",
                             user_ref(recipient_id), self.quota)
                await self.store.record_undelivered(recipient_id, body, None, "over the customer-service quota", 0)
                continue
            await self.api.send_custom(body)


class WeChatInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> "WeChatInput":
        # Secrets come from bot.settings (HUIMIN_WECHAT_*); credentials.yml may override any of them.
        c = dict(credentials or {})
        s = get_settings()
        return cls(token=c.get("token") or s.wechat_token, appid=c.get("appid") or s.wechat_appid,
                   secret=c.get("secret") or s.wechat_secret, aes_key=c.get("aes_key") or s.wechat_aes_key,
                   api_base=c.get("api_base") or s.wechat_api_base)

    def __init__(self, token: str, appid: str, secret: str, aes_key: str = "",
                 api_base: str = "https://api.weixin.qq.com", content: Optional[ChannelContent] = None,
                 store: Optional[ChannelStore] = None) -> None:
        self.token, self.appid = token, appid
        self.content = content or load_content()
        self.store = store or make_store()
        self.api = WeChatAPI(appid, secret, api_base, self.store)
        self.crypto: Optional[WeChatCrypto] = None
        # With an EncodingAESKey the account is in safe mode: a plaintext push is not from WeChat.
        self.require_aes = bool(aes_key)
        if aes_key:
            try:
                self.crypto = WeChatCrypto(token, aes_key, appid)
            except Exception:  # wechatpy asserts on the key length
                logger.error("HUIMIN_WECHAT_AES_KEY is not a 43-character EncodingAESKey; safe mode is off")
        self._tasks: Set[asyncio.Task] = set()
        if not token:
            logger.warning("WeChat channel has no token (HUIMIN_WECHAT_TOKEN); it will refuse every request")

    def get_output_channel(self) -> OutputChannel:
        """For messages Rasa sends on its own (staff replies during a handoff, reminders)."""
        return WeChatOutput(self.api, self.store, self.content, buffered=False)

    # -- request checks -------------------------------------------------------------------------------------
    def _check_signature(self, request: Request) -> str:
        args = request.args
        signature, timestamp, nonce = args.get("signature"), args.get("timestamp"), args.get("nonce")
        if not self.token:
            raise RejectedPush(503, "not_configured", "the WeChat channel is not configured")
        if not (signature and timestamp and nonce):
            raise RejectedPush(403, "missing_signature", "signature, timestamp and nonce are required")
        try:
            skew = abs(time.time() - int(timestamp))
        except ValueError:
            raise RejectedPush(403, "bad_timestamp", "timestamp must be a number")
        if skew > MAX_CLOCK_SKEW:
            raise RejectedPush(403, "stale_timestamp", "the request is too old or from the future")
        if not hmac.compare_digest(_sign(self.token, timestamp, nonce), signature):
            raise RejectedPush(403, "bad_signature", "the signature does not match")
        return timestamp

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise RejectedPush(400, "too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
        body = bytearray()
        if request.stream is not None:
            while True:
                chunk = await request.stream.read()
                if chunk is None:
                    break
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise RejectedPush(400, "too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
        else:
            body += request.body or b""
        return bytes(body)

    def _plaintext(self, request: Request, body: bytes, timestamp: str) -> str:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise RejectedPush(400, "bad_encoding", "the body must be UTF-8")
        envelope = safe_xml(text)
        encrypt_type = request.args.get("encrypt_type", "raw")
        if encrypt_type not in ("raw", "aes"):
            raise RejectedPush(400, "bad_encrypt_type", "encrypt_type must be raw or aes")
        if self.require_aes and self.crypto is None:
            raise RejectedPush(503, "not_configured", "HUIMIN_WECHAT_AES_KEY is not a valid EncodingAESKey")
        if encrypt_type == "raw":
            if self.require_aes:
                # Safe mode: the body must be encrypted (and signed with msg_signature) by WeChat; a captured
                # URL signature alone could otherwise carry any plaintext body.
                raise RejectedPush(403, "encryption_required", "safe mode: only encrypt_type=aes is accepted")
            return text
        if self.crypto is None:
            raise RejectedPush(400, "safe_mode_off", "safe mode (EncodingAESKey) is not configured")
        encrypted = envelope.findtext("Encrypt")
        msg_signature = request.args.get("msg_signature")
        if not encrypted or not msg_signature:
            raise RejectedPush(400, "missing_ciphertext", "safe mode needs Encrypt and msg_signature")
        nonce = request.args.get("nonce")
        if not hmac.compare_digest(_sign(self.token, timestamp, nonce, encrypted), msg_signature):
            raise RejectedPush(403, "bad_signature", "msg_signature does not match")
        try:
            plain = self.crypto.decrypt_message({"Encrypt": encrypted}, msg_signature, timestamp, nonce)
        except InvalidSignatureException:
            raise RejectedPush(403, "bad_signature", "msg_signature does not match")
        except Exception:  # base64, padding, length and AppID errors all mean "not ours"
            raise RejectedPush(400, "bad_ciphertext", "the message does not decrypt with our key and AppID")
        safe_xml(plain)  # the inner document gets the same screening
        return plain

    @staticmethod
    def _dedup_key(msg: Any) -> str:
        if msg.type == "event":
            return f"evt:{msg.source}:{msg.time}:{msg.event}"
        return f"msg:{msg.id}" if msg.id else f"msg:{msg.source}:{msg.time}"

    # -- processing -----------------------------------------------------------------------------------------
    async def _to_rasa(self, openid: str, text: str, quota: int,
                       on_new_message: Callable[[UserMessage], Awaitable[Any]], kind: str) -> None:
        out = WeChatOutput(self.api, self.store, self.content, quota=quota)
        try:
            await on_new_message(UserMessage(text, out, sender_id(openid), input_channel=self.name(),
                                             metadata={"wechat": {"kind": kind}}))
            if any(item.get("buttons") for item in out.pending):
                # After the second knowledge answer: 有用/没用 as two more numbered choices (bot/insights).
                from bot.insights.wechat_feedback import question_for
                question = await question_for(sender_id(openid))
                if question:
                    out.pending.append(question)
            if not out.pending:  # paused for a person: acknowledge instead of silence (bot/handoff/waiting.py)
                from bot.handoff.waiting import acknowledgement, agent_of
                ack = await acknowledgement(agent_of(getattr(self, "_sanic_app", None)), sender_id(openid))
                if ack:
                    out.pending.append({"text": ack})
        finally:
            await out.flush(openid)

    async def _say(self, openid: str, text_key: str) -> None:
        await self.api.send_custom({"touser": openid, "msgtype": "text",
                                    "text": {"content": self.content.texts[text_key]}})

    @staticmethod
    def _location_payload(msg: Any) -> Optional[str]:
        """``/share_location{"latitude": …, "longitude": …}`` from a location message (Location_X = latitude,
        Location_Y = longitude, GCJ-02); None when WeChat sent no usable numbers. The label (an address) is not
        passed on."""
        try:
            lat, lng = float(msg.location_x), float(msg.location_y)
        except (TypeError, ValueError):
            return None
        if not (math.isfinite(lat) and math.isfinite(lng)):
            return None
        coords = {"latitude": round(lat, LOCATION_DECIMALS), "longitude": round(lng, LOCATION_DECIMALS)}
        return f"/{LOCATION_INTENT}{json.dumps(coords)}"

    async def _map_choice(self, openid: str, text: str) -> str:
        folded = to_halfwidth(text).strip()
        if _NUMBER_RE.fullmatch(folded):
            choices = await self.store.get_choices(openid)
            number = int(folded)
            if 1 <= number <= len(choices):
                return choices[number - 1]
        return text

    async def _handle(self, msg: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        openid = msg.source
        if msg.type == "event":
            if msg.event in ("subscribe", "subscribe_scan"):
                payload = self.content.events.get("subscribe")
                if payload:
                    await self._to_rasa(openid, payload, EVENT_QUOTA, on_new_message, "subscribe")
            elif msg.event == "click":
                payload = self.content.payload_for_click(msg.key or "")
                if payload:
                    await self._to_rasa(openid, payload, EVENT_QUOTA, on_new_message, "menu")
                else:
                    logger.warning("WeChat menu key not in bot/channels/wechat.yml: %r", msg.key)
            elif msg.event == "unsubscribe":
                # WeChat asks that a leaving user's data be deleted; sending anything would fail (45015).
                await self.store.clear_choices(openid)
            return
        if msg.type == "text":
            text = (msg.content or "").strip()
        elif msg.type == "voice":
            text = (getattr(msg, "recognition", None) or "").strip()
            if not text:
                return await self._say(openid, "voice_not_recognised")
        elif msg.type == "location":
            location = self._location_payload(msg)
            if location is None:
                return await self._say(openid, "location")
            return await self._to_rasa(openid, location, USER_MESSAGE_QUOTA, on_new_message, "location")
        else:
            return await self._say(openid, "unsupported_media")
        if too_long(text):
            # Answered here, kindly: the assistant never spends time on it.
            return await self.api.send_custom({"touser": openid, "msgtype": "text",
                                               "text": {"content": too_long_reply()}})
        if text:
            text = await self._map_choice(openid, text)
            from bot.insights.wechat_feedback import is_vote, record_vote
            if is_vote(text):  # 有用/没用 is for the editors, not a question for the assistant
                thanks = await record_vote(sender_id(openid), text)
                return await self.api.send_custom({"touser": openid, "msgtype": "text", "text": {"content": thanks}})
            await self._to_rasa(openid, text, USER_MESSAGE_QUOTA, on_new_message, msg.type)

    async def _handle_safely(self, msg: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        try:
            await self._handle(msg, on_new_message)
        except Exception:
            logger.exception("WeChat %s from user %s could not be processed", msg.type, user_ref(msg.source))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        install_log_redaction()
        bp = Blueprint("wechat_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "configured": bool(self.token)})

        @bp.route("/webhook", methods=["GET", "POST"], stream=True)
        async def webhook(request: Request) -> HTTPResponse:
            try:
                if request.method == "GET":
                    # URL verification when the address is saved in the WeChat admin (plain signature always).
                    self._check_signature(request)
                    return response.text(request.args.get("echostr", ""))
                body = await self._read_body(request)
                timestamp = self._check_signature(request)
                plain = self._plaintext(request, body, timestamp)
                fresh = await self.store.claim(nonce_key(timestamp, request.args.get("nonce", "")), NONCE_TTL)
                try:
                    msg = parse_message(plain)
                except Exception:
                    raise RejectedPush(400, "bad_message", "not a WeChat message")
                if msg is None or not getattr(msg, "source", None):
                    raise RejectedPush(400, "bad_message", "not a WeChat message")
            except RejectedPush as exc:
                logger.warning("WeChat push rejected: %s", exc.error)
                return exc.response()
            if not fresh:
                # A signature seen before: a replay (or WeChat repeating itself); nothing in it is processed.
                logger.warning("WeChat push with an already used timestamp and nonce ignored")
                return response.text("success")
            if not await self.store.claim(self._dedup_key(msg), SEEN_TTL):
                logger.info("WeChat retry of an accepted push ignored (user %s)", user_ref(msg.source))
                return response.text("success")
            self._sanic_app = request.app  # its agent's tracker store tells whether a message was swallowed
            task = asyncio.create_task(self._handle_safely(msg, on_new_message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return response.text("success")

        return bp
