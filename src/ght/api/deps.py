"""Request dependencies: database session and the authenticated account."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ght.access.gate import Gate
from ght.access.policy import Decision
from ght.access.subject import subject_of
from ght.audit.trail import Action, Door, Purpose
from ght.directory.vocab import ROLE_LABELS_FR, Role
from ght.auth import sessions
from ght.auth.models import AuthSession
from ght.config import Settings

SESSION_COOKIE = "ght_session"

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_db(request: Request) -> AsyncIterator[Session]:
    """A session per request. Routes that write commit before they answer, so that a 2xx
    always means the write is durable; anything left uncommitted is rolled back.

    The session is made and ended here, on the event loop: making it takes no I/O, and ending
    it one ROLLBACK when a transaction is still open (a read) — a short blocking call, chosen
    over a thread of the routes' pool: a request holding its connection while it waits for a
    free thread would make the connection pool open and close connections under load."""
    db = request.app.state.sessionmaker()
    try:
        yield db
    finally:
        db.close()


async def get_read_db(request: Request) -> AsyncIterator[Session]:
    """A session for routes that only read: in autocommit, each statement sees its own snapshot
    and no BEGIN or ROLLBACK goes to the database (two round trips of a short read)."""
    db = request.app.state.read_sessionmaker()
    try:
        yield db
    finally:
        db.close()


def remember(request: Request, auth: AuthSession | None) -> AuthSession | None:
    if auth is not None:
        request.state.username = auth.account.username
    return auth


def optional_ui_session(request: Request, db: Session = Depends(get_db)) -> AuthSession | None:
    auth = sessions.resolve(db, request.cookies.get(SESSION_COOKIE), sessions.COOKIE, get_settings(request))
    if auth is not None:
        db.commit()  # keeps the sliding idle window
    return remember(request, auth)


def _unauthorised() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="jeton absent, invalide ou expiré",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def require_bearer_detached(request: Request, token: str | None = Depends(oauth2_scheme)) -> AuthSession:
    """The bearer token's session, detached (read it, never change it): a token this process has
    just checked costs no query and no thread (auth.sessions.BearerCache); another is looked up
    in a thread, with a session of its own."""
    settings = get_settings(request)
    cache: sessions.BearerCache = request.app.state.bearer_cache
    auth = cache.peek(token, settings)
    if auth is None and token:
        auth = await run_in_threadpool(_resolve_detached, request, token)
    if auth is None:
        raise _unauthorised()
    return remember(request, auth)


def _resolve_detached(request: Request, token: str) -> AuthSession | None:
    with request.app.state.sessionmaker() as db:
        return request.app.state.bearer_cache.resolve_detached(db, token, get_settings(request))


async def require_bearer(
    auth: AuthSession = Depends(require_bearer_detached), db: Session = Depends(get_db)
) -> AuthSession:
    """The bearer token's session as a copy in the request's database session (no SQL: the
    remembered rows are copied), for routes that read its relationships or write."""
    return db.merge(auth, load=False)


def _check_roles(auth: AuthSession, roles: tuple[str, ...]) -> AuthSession:
    if not set(auth.account.roles) & set(roles):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="rôle insuffisant pour cette opération")
    return auth


def require_role_detached(*roles: str):
    """require_role for routes on the event loop (see require_bearer_detached)."""

    async def check(auth: AuthSession = Depends(require_bearer_detached)) -> AuthSession:
        return _check_roles(auth, roles)

    return check


def require_role(*roles: str):
    """A bearer session whose account holds one of `roles`; 403 otherwise. (Role gates only:
    the care-team policy and the access trace of clinical data come with the access package.)"""

    async def check(auth: AuthSession = Depends(require_bearer)) -> AuthSession:
        return _check_roles(auth, roles)

    return check


# ------------------------------------------------------------------------------ access gates


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


_ACTIONS = {"GET": Action.READ, "HEAD": Action.READ, "POST": Action.CREATE, "PUT": Action.UPDATE,
            "PATCH": Action.UPDATE, "DELETE": Action.DELETE}


def make_gate(request: Request, auth: AuthSession, db: Session, door: Door, *, autocommit: bool = False) -> Gate:
    return Gate(request.app.state.engine, db, subject_of(auth), door, client_address=client_address(request),
                rules=request.app.state.access_rules,
                request=(_ACTIONS.get(request.method, Action.READ), request.url.path), autocommit=autocommit)


def reading_gate(door: Door):
    """The request's access gate for a route that reads (autocommit session)."""

    # On the event loop: making a gate does no I/O (a sync dependency would cost a thread switch).
    async def dependency(request: Request, auth: AuthSession = Depends(require_bearer_detached),
                         db: Session = Depends(get_read_db)) -> Gate:
        return make_gate(request, auth, db, door, autocommit=True)

    return dependency


def writing_gate(door: Door):
    """The request's access gate for a route that writes: its facts and its trace entries go
    through the route's own transaction."""

    async def dependency(request: Request, auth: AuthSession = Depends(require_bearer_detached),
                         db: Session = Depends(get_db)) -> Gate:
        return make_gate(request, auth, db, door)

    return dependency


def role_gate(door: Door, *roles: Role):
    """The request's gate for a route reserved to `roles`: another caller is refused with 403,
    and the refusal is traced like the policy's own."""

    def dependency(request: Request, auth: AuthSession = Depends(require_bearer_detached),
                   db: Session = Depends(get_db)) -> Gate:
        return require_roles(make_gate(request, auth, db, door), request, roles)

    return dependency


def require_roles(gate: Gate, request: Request, roles: tuple[Role, ...]) -> Gate:
    """The gate, when its subject has one of `roles`; otherwise the refusal, traced and raised
    (AccessDenied)."""
    if not gate.subject.has(*roles):
        action = Action.READ if request.method in ("GET", "HEAD") else Action.UPDATE
        gate.refuse(action, Decision(False, Purpose.ADMINISTRATION, gate.subject.primary_role,
                                     f"réservé au rôle {' ou '.join(ROLE_LABELS_FR[r] for r in roles)}"), None)
    return gate
