"""Bearer tokens and roles (SPEC §6.3).

Tokens are opaque random strings; only their SHA-256 is kept. They come from the configuration
(``auth.tokens``, compared in constant time) or from ``unirouter token create``, which keeps the hash
in the store's idempotency table under the scope ``token`` (key: the hex digest, value: the token's
JSON ``{name, role, agent, created_at}``). ``token list`` shows them by id (the digest's first 16
hex digits) and ``token revoke`` deletes one: a store token is looked up in the store on every
request, never cached, so a revoked token answers 401 at once, on every server sharing the store
and after a restart (issue 17 item 7).

A conversation's customer token is random too, and only its SHA-256 is kept, under the scope
``customer`` (value: the item id). Each intake answer for a conversation, a repeat too, carries a
fresh one (the server cannot give back a token it never kept). It reaches only its own item, and
stops working ``auth.customer_token_ttl_s`` after the conversation closed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from unirouter import errors
from unirouter.config import model
from unirouter.server import _entropy
from unirouter.server.problems import ApiProblem
from unirouter.storage import Key, Store

__all__ = [
    "BEARER_PROTOCOL",
    "Authenticator",
    "Principal",
    "TokenInfo",
    "create_token",
    "digest",
    "list_tokens",
    "new_token",
    "revoke_token",
    "websocket_token",
]

Role = model.Role
TOKEN_SCOPE = "token"
CUSTOMER_SCOPE = "customer"
#: Where older versions kept the key customer tokens were an HMAC under; deleted at start.
LEGACY_SECRET = ("server", "customer-token-secret")
CUSTOMER_PREFIX = "urc_"


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is calling: a role (and the agent of an agent token), or a conversation's customer."""

    name: str
    role: Role | None = None
    agent: str | None = None
    customer_of: str | None = None

    def allow(self, *roles: Role) -> None:
        """403 unless the caller has one of ``roles`` (SPEC §6.3)."""
        if self.role is None or self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise ApiProblem(
                403,
                "forbidden",
                f"this needs the role {allowed}",
                role=_role(self),
                allowed=allowed,
            )

    def act_as(self, agent: str, *roles: Role, field: str = "agent") -> None:
        """An agent token may act only as its own agent; ``roles`` may act for anyone."""
        if self.role is Role.AGENT:
            if self.agent != agent:
                raise ApiProblem(
                    403, "other_agent", f"this token acts for agent {self.agent}, not {agent}",
                    field=field, agent=agent,
                )  # fmt: skip
            return
        self.allow(Role.AGENT, *roles)


def _role(principal: Principal) -> str:
    return "customer" if principal.role is None else principal.role.value


def new_token() -> str:
    """A fresh opaque token: 256 random bits."""
    return "ur_" + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store: Store, role: Role, agent: str | None, name: str | None = None) -> str:
    """Make a token, keep only its hash in ``store``, and return the token (shown once)."""
    if (role is Role.AGENT) != (agent is not None):
        raise ValueError("an agent token needs --agent, and only an agent token takes one")
    token = new_token()
    label = name or (f"{role.value}:{agent}" if agent else role.value)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    value = json.dumps({"name": label, "role": role.value, "agent": agent, "created_at": created})
    store.remember_key(TOKEN_SCOPE, digest(token), value)
    return token


#: How many hex digits of a token's SHA-256 name it in ``token list`` and ``token revoke``.
ID_DIGITS = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenInfo:
    """A token made by ``token create``, as ``token list`` shows it (never the token itself)."""

    id: str
    name: str
    role: Role
    agent: str | None
    created_at: str | None

    def as_json(self) -> dict[str, str | None]:
        return {"id": self.id, "name": self.name, "role": self.role.value, "agent": self.agent,
                "created_at": self.created_at}  # fmt: skip


def _info(hashed: str, value: str) -> TokenInfo:
    data = json.loads(value)
    return TokenInfo(id=hashed[:ID_DIGITS], name=data["name"], role=Role(data["role"]),
                     agent=data.get("agent"), created_at=data.get("created_at"))  # fmt: skip


def list_tokens(store: Store) -> list[TokenInfo]:
    """The tokens made by ``token create`` that are not revoked, by name then id."""
    found = [_info(hashed, value) for hashed, value in store.keys(TOKEN_SCOPE)]
    return sorted(found, key=lambda t: (t.name, t.id))


def revoke_token(store: Store, token_id: str) -> TokenInfo:
    """Delete the token ``token_id`` (its id or whole SHA-256) durably: from now on it answers 401.

    Raises :class:`~unirouter.errors.NotFound` when no token has that id."""
    wanted = token_id.strip().lower()
    if len(wanted) in (ID_DIGITS, 64):
        for hashed, value in store.keys(TOKEN_SCOPE):
            if hashed[: len(wanted)] == wanted and store.forget_key(TOKEN_SCOPE, hashed):
                return _info(hashed, value)
    raise errors.NotFound(f"no token with id {token_id}", token=token_id)


class Authenticator:
    """Resolves bearer tokens against the configuration and the store.

    ``expired(item_id)`` says whether a conversation's customer token has run out (its item closed
    more than ``auth.customer_token_ttl_s`` ago, or is no longer known)."""

    def __init__(
        self,
        store: Store,
        tokens: Callable[[], list[model.TokenDef]],
        expired: Callable[[str], bool] = lambda item_id: False,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._expired = expired

    def forget_legacy_secret(self) -> None:
        """Delete the HMAC key older versions kept in the store (blocking; call before serving):
        whoever reads the store must not be able to make customer tokens."""
        self._store.forget_key(*LEGACY_SECRET)

    def mint_customer_token(self, item_id: str) -> tuple[str, Key]:
        """A fresh customer token for conversation ``item_id`` and the store key that makes it
        reach the conversation. Nothing is written: the caller stores the key in the same append
        as the item it creates (one group commit, issue 10 item 3) and hands the token out only
        once that append is durable."""
        token = CUSTOMER_PREFIX + _entropy.token_urlsafe(32)
        return token, Key(scope=CUSTOMER_SCOPE, key=digest(token), value=item_id)

    async def customer_token(self, item_id: str) -> str:
        """A fresh customer token for conversation ``item_id``, its hash durable on return."""
        token, key = self.mint_customer_token(item_id)
        await asyncio.to_thread(self._store.remember_key, key.scope, key.key, key.value)
        return token

    async def authenticate(self, connection: HTTPConnection) -> Principal:
        """The caller of a request: 401 without a valid bearer token."""
        token = _bearer(connection)
        if token is None:
            raise _unauthorized("a bearer token is needed (Authorization: Bearer TOKEN)")
        found = await self.resolve(token, connection)
        if found is None:
            raise _unauthorized("the bearer token is not valid")
        return found

    async def resolve(self, token: str, connection: HTTPConnection) -> Principal | None:
        if token.startswith(CUSTOMER_PREFIX):
            return await self._customer(token, connection.path_params.get("item_id"))
        hashed = digest(token)
        for defined in self._tokens():
            if hmac.compare_digest(hashed, defined.sha256):
                return Principal(name=defined.name, role=defined.role, agent=defined.agent)
        # Read every time, never cached: a token revoked by any process is refused at once.
        stored = await asyncio.to_thread(self._store.recall_key, TOKEN_SCOPE, hashed)
        if stored is None:
            return None
        data = json.loads(stored)
        return Principal(name=data["name"], role=Role(data["role"]), agent=data.get("agent"))

    async def _customer(self, token: str, item: str | None) -> Principal | None:
        if item is None:
            return None
        owner = await asyncio.to_thread(self._store.recall_key, CUSTOMER_SCOPE, digest(token))
        # As bytes: compare_digest refuses str with non-ASCII characters (a drawn path id was a
        # 500; found by the per-role schemathesis run).
        same = owner is not None and hmac.compare_digest(_utf8(owner), _utf8(item))
        if not same or self._expired(item):
            return None
        return Principal(name=f"customer:{item}", customer_of=item)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _bearer(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None
    if connection.scope.get("type") == "websocket":
        return websocket_token(connection)
    return None


#: The WebSocket subprotocol that carries a token (browsers cannot set headers on a WebSocket).
BEARER_PROTOCOL = "bearer"


def websocket_token(connection: HTTPConnection) -> str | None:
    """The token of a WebSocket handshake offering the subprotocols ``bearer, TOKEN``.

    A token in the URL would end up in access logs and browser history; the subprotocol list is a
    header, and the server answers with ``bearer`` alone, never echoing the token.
    """
    offered = [p.strip() for p in connection.headers.get("sec-websocket-protocol", "").split(",")]
    if len(offered) >= 2 and offered[0] == BEARER_PROTOCOL and offered[1]:
        return offered[1]
    return None


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})
