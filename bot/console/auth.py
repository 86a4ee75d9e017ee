"""Console accounts and login: argon2 password hashes, server-side sessions behind a signed cookie,
CSRF tokens on every state-changing call, lock-out after repeated failures, roles.

Login hardening: argon2 runs in a small thread pool, so a burst of logins never stalls the event loop (every
other staff page); failures are counted per account *and* client address, so a stranger's guesses lock only
the stranger out, each further lock twice as long; and every refusal — unknown account, wrong password,
locked — is the same answer, so the login form tells nobody which user names exist. Cookies are ``Secure``
when the request came over HTTPS, directly or through our own proxy (bot/proxy.py).

Feature modules (handoff, bookings, editor, …) protect their handlers with ``@require_role("staff")`` and get
the user from ``request["user"]``. A state-changing call must carry the session's CSRF token in the
``X-CSRF-Token`` header or a ``csrf_token`` form field; the middleware enforces it for every route.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
from concurrent.futures import ThreadPoolExecutor
import hmac
import secrets
from dataclasses import dataclass
from typing import Awaitable, Callable, Optional

import sqlalchemy as sa
from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from bot.clock import as_utc as _utc
from bot.clock import utcnow
from bot.console.errors import ApiError, read_json, text_field
from bot.console.models import ROLES, AuditEntry, LoginFailure, LoginSession, User
from bot.db import session_scope
from bot.privacy import keyed_hash
from bot.proxy import client_address, forwarded_https

SESSION_COOKIE = "huimin_session"
CSRF_COOKIE = "huimin_csrf"  # pre-login CSRF token (double submit), replaced by the session's own on login
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE = 12 * 3600
MAX_FAILURES = 5
LOCK_MINUTES = 15
MAX_LOCK_MINUTES = 24 * 60
# argon2 takes ~50 ms of CPU and 64 MB: at most this many at once, off the event loop; the rest wait their turn.
HASH_THREADS = 2
_hash_pool = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so both paths take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True)
class CurrentUser:
    id: int
    name: str
    role: str
    session_id: str
    csrf_token: str

    def has_role(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "role": self.role, "csrf_token": self.csrf_token}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def _off_loop(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(_hash_pool, fn, *args)


def validate_password(password: str) -> None:
    if len(password) < 8:
        raise ValueError("密码至少 8 位")


async def create_user(name: str, role: str, password: str, url: Optional[str] = None) -> dict:
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise ValueError("用户名不能为空，最多 64 个字符")
    if role not in ROLES:
        raise ValueError(f"角色只能是 {', '.join(ROLES)}")
    validate_password(password)
    async with session_scope(url) as s:
        if (await s.execute(sa.select(User.id).where(User.name == name))).first():
            raise ValueError(f"用户 {name} 已经存在")
        u = User(name=name, role=role, password_hash=hash_password(password), active=True, failed_logins=0,
                 created_at=utcnow())
        s.add(u)
        await s.flush()
        return {"id": u.id, "name": u.name, "role": u.role}


async def set_password(name: str, password: str, url: Optional[str] = None) -> None:
    validate_password(password)
    async with session_scope(url) as s:
        u = (await s.execute(sa.select(User).where(User.name == name))).scalars().first()
        if u is None:
            raise ValueError(f"没有用户 {name}")
        u.password_hash = hash_password(password)
        u.failed_logins, u.locked_until = 0, None
        await s.execute(sa.delete(LoginFailure).where(LoginFailure.user_name == name))
        await s.execute(sa.delete(LoginSession).where(LoginSession.user_id == u.id))


async def unlock_user(name: str, url: Optional[str] = None) -> bool:
    async with session_scope(url) as s:
        r = await s.execute(sa.update(User).where(User.name == name).values(failed_logins=0, locked_until=None))
        await s.execute(sa.delete(LoginFailure).where(LoginFailure.user_name == name))
        return r.rowcount == 1


async def list_users(url: Optional[str] = None) -> list:
    async with session_scope(url) as s:
        now = utcnow()
        locked = {r[0] for r in await s.execute(sa.select(LoginFailure.user_name)
                                                .where(LoginFailure.locked_until > now))}
        return [{"id": u.id, "name": u.name, "role": u.role, "active": u.active,
                 "locked": bool(u.locked_until and _utc(u.locked_until) > now) or u.name in locked,
                 "last_login_at": _utc(u.last_login_at).isoformat() if u.last_login_at else None}
                for u in (await s.execute(sa.select(User).order_by(User.name))).scalars()]


async def user_names(url: Optional[str] = None, role: Optional[str] = None) -> list:
    async with session_scope(url) as s:
        q = sa.select(User.name).where(User.active.is_(True)).order_by(User.name)
        if role:
            q = q.where(User.role.in_((role, "admin")))
        return [r[0] for r in await s.execute(q)]


class LoginFailed(Exception):
    """Any refused login. Deliberately carries nothing: unknown, wrong and locked get the same answer."""


def _failure_key(name: str, client: str) -> str:
    return f"{name[:64]}|" + keyed_hash(client or "unknown", "console.login.client")[:32]


def lock_minutes(strikes: int) -> int:
    """The n-th lock in a row lasts LOCK_MINUTES * 2**(n-1), at most a day."""
    return min(MAX_LOCK_MINUTES, LOCK_MINUTES * 2 ** max(0, strikes - 1))


async def _locked_out(s, key: str, now: dt.datetime) -> bool:
    row = await s.get(LoginFailure, key)
    return bool(row and row.locked_until and _utc(row.locked_until) > now)


async def _count_failure(s, key: str, name: str, now: dt.datetime) -> None:
    row = await s.get(LoginFailure, key)
    if row is None:
        row = LoginFailure(key=key, user_name=name[:64], failures=0, strikes=0, updated_at=now)
        s.add(row)
    row.failures = (row.failures or 0) + 1
    row.updated_at = now
    if row.failures >= MAX_FAILURES:
        row.failures, row.strikes = 0, (row.strikes or 0) + 1
        minutes = lock_minutes(row.strikes)
        row.locked_until = now + dt.timedelta(minutes=minutes)
        s.add(AuditEntry(at=now, user_name=name[:64], action="login_locked", target=f"user:{name[:58]}",
                         detail=f"{MAX_FAILURES} failed logins from one address; locked {minutes} min for it"))


async def authenticate(name: str, password: str, url: Optional[str] = None, client: str = "") -> CurrentUser:
    """Check the password and open a session; raise LoginFailed (counting the failure) otherwise."""
    now = utcnow()
    key = _failure_key(name, client)
    async with session_scope(url) as s:
        u = (await s.execute(sa.select(User).where(User.name == name))).scalars().first()
        locked = await _locked_out(s, key, now) or bool(u and _utc(u.locked_until) and _utc(u.locked_until) > now)
        usable = u is not None and u.active and not locked
        # The hash is always checked (a dummy one when there is nothing to check), so every path costs the same.
        ok = await _off_loop(_check, u.password_hash if usable else _DUMMY_HASH, password) and usable
        if not ok:
            if not locked:
                await _count_failure(s, key, name, now)
            failure = True
        else:
            failure = False
            if _hasher.check_needs_rehash(u.password_hash):
                u.password_hash = await _off_loop(hash_password, password)
            u.failed_logins, u.locked_until, u.last_login_at = 0, None, now
            await s.execute(sa.delete(LoginFailure).where(LoginFailure.key == key))
            sess = LoginSession(id=secrets.token_urlsafe(32), user_id=u.id, csrf_token=secrets.token_urlsafe(32),
                                created_at=now, last_seen_at=now)
            s.add(sess)
            result = CurrentUser(u.id, u.name, u.role, sess.id, sess.csrf_token)
    if failure:
        raise LoginFailed()
    return result


async def load_session(session_id: str, url: Optional[str] = None) -> Optional[CurrentUser]:
    now = utcnow()
    async with session_scope(url) as s:
        row = (await s.execute(sa.select(LoginSession, User).join(User, User.id == LoginSession.user_id)
                               .where(LoginSession.id == session_id))).first()
        if row is None:
            return None
        sess, u = row
        if not u.active or (now - _utc(sess.created_at)).total_seconds() > SESSION_MAX_AGE:
            return None
        if (now - _utc(sess.last_seen_at)).total_seconds() > 60:
            sess.last_seen_at = now
        return CurrentUser(u.id, u.name, u.role, sess.id, sess.csrf_token)


async def end_session(session_id: str, url: Optional[str] = None) -> None:
    async with session_scope(url) as s:
        await s.execute(sa.delete(LoginSession).where(LoginSession.id == session_id))


async def audit(user: str, action: str, target: str, detail: Optional[str] = None,
                url: Optional[str] = None) -> None:
    async with session_scope(url) as s:
        s.add(AuditEntry(at=utcnow(), user_name=user, action=action, target=target, detail=detail))


async def audits_since(user: str, action: str, since: dt.datetime, url: Optional[str] = None) -> int:
    """How many ``action`` records ``user`` has made since ``since`` (UTC): limits read from the audit log itself,
    so they hold across console replicas and restarts."""
    async with session_scope(url) as s:
        return (await s.execute(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.user_name == user, AuditEntry.action == action, AuditEntry.at >= since))).scalar() or 0


async def audit_entries(limit: int = 200, target: Optional[str] = None, url: Optional[str] = None) -> list:
    async with session_scope(url) as s:
        q = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if target:
            q = q.where(AuditEntry.target == target)
        return [{"id": a.id, "at": _utc(a.at).isoformat(), "user": a.user_name, "action": a.action,
                 "target": a.target, "detail": a.detail} for a in (await s.execute(q)).scalars()]


# --- request plumbing -----------------------------------------------------------------------------------------

def _serializer(app: web.Application) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app["settings"].secret_key, salt="huimin-console")


async def current_user(request: web.Request) -> Optional[CurrentUser]:
    if "user" in request:
        return request["user"]
    user = None
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        try:
            sid = _serializer(request.app).loads(raw, max_age=SESSION_MAX_AGE)
        except BadSignature:
            sid = None
        if isinstance(sid, str):
            user = await load_session(sid, request.app["db_url"])
    request["user"] = user
    return user


def _anon_csrf(request: web.Request) -> Optional[str]:
    raw = request.cookies.get(CSRF_COOKIE)
    if not raw:
        return None
    try:
        value = _serializer(request.app).loads(raw, max_age=SESSION_MAX_AGE)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


async def _submitted_csrf(request: web.Request) -> Optional[str]:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def csrf_exempt(handler):
    """For machine-to-machine endpoints authenticated otherwise (none in the console today)."""
    handler.csrf_exempt = True
    return handler


@web.middleware
async def auth_middleware(request: web.Request, handler):
    if request.method not in SAFE_METHODS and not getattr(handler, "csrf_exempt", False):
        user = await current_user(request)
        expected = user.csrf_token if user else _anon_csrf(request)
        submitted = await _submitted_csrf(request)
        if not expected or not submitted or not hmac.compare_digest(expected, submitted):
            raise ApiError(403, "csrf", "页面已过期或请求来源不对，请刷新页面后再试")
    return await handler(request)


def require_role(*roles: str, page: bool = False):
    """Allow users with one of ``roles`` (admin is allowed everything). Pages redirect to the login page."""
    for r in roles:
        if r not in ROLES:
            raise ValueError(f"unknown role {r!r}")

    def deco(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            user = await current_user(request)
            if user is None:
                if page:
                    raise web.HTTPFound(f"/login?next={request.path_qs}")
                raise ApiError(401, "unauthorized", "请先登录")
            if roles and not user.has_role(*roles):
                raise ApiError(403, "forbidden", "您的账号没有权限做这件事")
            return await handler(request)
        wrapper.required_roles = roles  # read by the OpenAPI builder
        return wrapper
    return deco


def request_is_https(request: web.Request) -> bool:
    return request.secure or forwarded_https(request.remote, request.headers.get("X-Forwarded-Proto"))


def request_client(request: web.Request) -> str:
    return client_address(request.remote, request.headers.get("X-Forwarded-For"))


def _set_cookie(resp: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    resp.set_cookie(name, value, httponly=True, samesite="Strict", secure=request_is_https(request), path="/",
                    max_age=SESSION_MAX_AGE)


# --- routes ---------------------------------------------------------------------------------------------------

async def csrf_token(request: web.Request) -> web.Response:
    """A CSRF token for the login form (or the session's token once logged in)."""
    user = await current_user(request)
    if user:
        return web.json_response({"csrf_token": user.csrf_token, "user": user.as_dict()})
    token = _anon_csrf(request) or secrets.token_urlsafe(32)
    resp = web.json_response({"csrf_token": token, "user": None})
    _set_cookie(resp, request, CSRF_COOKIE, _serializer(request.app).dumps(token))
    return resp


async def login(request: web.Request) -> web.Response:
    if request.content_type == "application/json":
        data = await read_json(request)
    else:
        data = dict(await request.post())
    name = text_field(data, "username", max_len=64)
    password = data.get("password")
    if not isinstance(password, str) or not password:
        raise ApiError(400, "missing_field", "请输入密码", field="password")
    try:
        user = await authenticate(name, password, request.app["db_url"], client=request_client(request))
    except LoginFailed:
        # One answer for unknown, wrong and locked alike: the form must not tell which accounts exist.
        raise ApiError(401, "bad_credentials",
                       f"用户名或密码不对。连续输错 {MAX_FAILURES} 次后，要等 {LOCK_MINUTES} 分钟以上才能再试。")
    await audit(user.name, "login", f"user:{user.name}", url=request.app["db_url"])
    resp = web.json_response({"user": user.as_dict(), "csrf_token": user.csrf_token})
    _set_cookie(resp, request, SESSION_COOKIE, _serializer(request.app).dumps(user.session_id))
    resp.del_cookie(CSRF_COOKIE, path="/")
    return resp


async def logout(request: web.Request) -> web.Response:
    user = await current_user(request)
    if user:
        await end_session(user.session_id, request.app["db_url"])
    resp = web.json_response({"ok": True})
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


@require_role()
async def me(request: web.Request) -> web.Response:
    return web.json_response({"user": request["user"].as_dict()})


@require_role("admin")
async def users_list(request: web.Request) -> web.Response:
    return web.json_response({"users": await list_users(request.app["db_url"])})


@require_role("admin")
async def users_create(request: web.Request) -> web.Response:
    data = await read_json(request)
    try:
        user = await create_user(text_field(data, "username", max_len=64), text_field(data, "role", max_len=16),
                                 text_field(data, "password", max_len=200), request.app["db_url"])
    except ValueError as exc:
        raise ApiError(400, "invalid", str(exc))
    await audit(request["user"].name, "user_created", f"user:{user['name']}", user["role"], request.app["db_url"])
    return web.json_response({"user": user}, status=201)


@require_role("admin")
async def users_unlock(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not await unlock_user(name, request.app["db_url"]):
        raise ApiError(404, "not_found", f"没有用户 {name}")
    await audit(request["user"].name, "user_unlocked", f"user:{name}", url=request.app["db_url"])
    return web.json_response({"ok": True})


@require_role("admin")
async def audit_list(request: web.Request) -> web.Response:
    return web.json_response({"entries": await audit_entries(target=request.query.get("target"),
                                                             url=request.app["db_url"])})


@require_role("staff")
async def staff_names(request: web.Request) -> web.Response:
    return web.json_response({"users": await user_names(request.app["db_url"], role="staff")})


def add_auth_routes(app: web.Application) -> None:
    app.router.add_get("/api/auth/csrf", csrf_token)
    app.router.add_post("/api/auth/login", login)
    app.router.add_post("/api/auth/logout", logout)
    app.router.add_get("/api/auth/me", me)
    app.router.add_get("/api/staff", staff_names)
    app.router.add_get("/api/admin/users", users_list)
    app.router.add_post("/api/admin/users", users_create)
    app.router.add_post("/api/admin/users/{name}/unlock", users_unlock)
    app.router.add_get("/api/admin/audit", audit_list)
