"""JSON errors everywhere: ``{"error": code, "message": text}``; never a stack trace in a response."""
from __future__ import annotations

import json
import logging
from typing import Any, Optional

from aiohttp import web

log = logging.getLogger(__name__)

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid", 423: "locked",
          429: "too_many_requests", 503: "unavailable"}
_MESSAGES = {400: "请求的格式不对", 401: "请先登录", 403: "您没有权限做这件事", 404: "找不到这个页面或资源",
             405: "不支持这种请求方式", 413: "上传的内容太大了", 415: "不支持这种内容格式"}


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.error, self.message, self.extra = status, error, message, extra


def json_error(status: int, error: str, message: str, **extra: Any) -> web.Response:
    body = {"error": error, "message": message}
    body.update(extra)
    return web.json_response(body, status=status)


def _is_db_down(exc: BaseException) -> bool:
    try:
        from sqlalchemy.exc import DBAPIError, OperationalError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (OperationalError, ConnectionRefusedError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


def _wants_page(request: web.Request) -> bool:
    """A browser opening a page (not a script calling the API): it gets a page it can read, not JSON."""
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


def _forbidden_page() -> web.StreamResponse:
    from pathlib import Path
    page = Path(__file__).resolve().parent / "pages" / "forbidden.html"
    return web.Response(status=403, body=page.read_bytes(), content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as exc:
        if exc.status == 403 and exc.error == "forbidden" and _wants_page(request):
            return _forbidden_page()
        return json_error(exc.status, exc.error, exc.message, **exc.extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects
        message = _MESSAGES.get(exc.status, exc.reason)
        if exc.text and not exc.text.startswith(f"{exc.status}:"):
            message = exc.text
        return json_error(exc.status, _CODES.get(exc.status, "error"), message)
    except Exception as exc:
        from bot.rasa.http_api import RasaUnavailable
        if isinstance(exc, RasaUnavailable):
            log.warning("Rasa unavailable on %s %s: %s", request.method, request.path, exc)
            return json_error(503, "rasa_unavailable", "惠民助手的对话服务暂时连不上，请稍后再试。")
        if _is_db_down(exc) or isinstance(exc, OSError):
            log.error("database unavailable on %s %s: %s", request.method, request.path, type(exc).__name__)
            return json_error(503, "database_unavailable", "数据库暂时连不上，请稍后再试。")
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal", "服务器出了点问题，请稍后再试。")


async def read_json(request: web.Request, max_bytes: int = 256 * 1024) -> dict:
    """The request body as a JSON object, or a 400 that says what is wrong."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, "too_large", "请求内容太大了")
    raw = await request.read()
    if len(raw) > max_bytes:
        raise ApiError(413, "too_large", "请求内容太大了")
    if not raw:
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "bad_json", "请求内容不是有效的 JSON")
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "请求内容应该是一个 JSON 对象")
    return data


def text_field(data: dict, name: str, required: bool = True, max_len: int = 2000) -> Optional[str]:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ApiError(400, "missing_field", f"缺少 {name}", field=name)
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid_field", f"{name} 应该是文字", field=name)
    value = value.strip()
    if len(value) > max_len:
        raise ApiError(400, "invalid_field", f"{name} 太长了（最多 {max_len} 字）", field=name)
    return value


def int_param(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, "invalid_field", f"{name} 应该是数字", field=name)
