"""The OpenAPI document of the console's JSON API, built from the routes actually registered, so an
endpoint added by a feature module (editor, bookings, …) appears without editing this file."""
from __future__ import annotations

import re
from typing import Any, Dict

from aiohttp import web

# Request bodies of the endpoints that take one (by "METHOD path"); feature modules may add theirs to
# app["openapi_bodies"].
BODIES: Dict[str, Dict[str, Any]] = {
    "POST /api/auth/login": {"username": "string", "password": "string"},
    "POST /api/admin/users": {"username": "string", "role": "staff|editor|importer|admin", "password": "string"},
    "POST /api/tickets/{ticket_id}/transfer": {"to": "string (a colleague's user name)"},
    "POST /api/tickets/{ticket_id}/messages": {"text": "string (max 1000)"},
    "POST /api/tickets/{ticket_id}/close": {"outcome": "string (required)"},
    "POST /api/tickets/{ticket_id}/reveal": {"index": "integer (transcript entry)"},
}

ERROR_SCHEMA = {"type": "object", "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}


def _schema(fields: Dict[str, str]) -> Dict[str, Any]:
    props = {}
    for name, desc in fields.items():
        kind = "integer" if desc.startswith("integer") else "string"
        props[name] = {"type": kind, "description": desc}
    return {"type": "object", "properties": props, "required": list(fields)}


def build(app: web.Application) -> Dict[str, Any]:
    bodies = dict(BODIES, **app.get("openapi_bodies", {}))
    paths: Dict[str, Dict[str, Any]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith("/api/") or route.method in ("HEAD", "*"):
            continue
        handler = route.handler
        doc = (handler.__doc__ or handler.__name__.replace("_", " ")).strip().splitlines()[0]
        roles = getattr(handler, "required_roles", None)
        op: Dict[str, Any] = {
            "summary": doc,
            "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                "default": {"description": "Error", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }
        params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in re.findall(r"{(\w+)}", path)]
        if params:
            op["parameters"] = params
        if roles is not None:
            op["security"] = [{"session": []}]
            op["x-roles"] = list(roles) or ["any"]
        if route.method not in ("GET", "HEAD"):
            op.setdefault("parameters", []).append(
                {"name": "X-CSRF-Token", "in": "header", "required": True, "schema": {"type": "string"},
                 "description": "the csrf_token from GET /api/auth/csrf or the login response"})
            body = bodies.get(f"{route.method} {path}")
            if body:
                op["requestBody"] = {"required": True,
                                     "content": {"application/json": {"schema": _schema(body)}}}
        paths.setdefault(path, {})[route.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "惠民助手 console API", "version": "1.0",
                 "description": "Staff console, handoff, bookings, applications and the knowledge editor. "
                                "Errors are JSON {error, message}. State-changing calls need X-CSRF-Token."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "huimin_session"}},
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build(request.app))
