"""User accounts: creation (CLI, demo seed), authentication by password."""

from __future__ import annotations

import unicodedata

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ght.auth.passwords import check_strength, dummy_hash, hash_password, needs_rehash, verify_password
from ght.db.base import utcnow
from ght.directory.models import Account, AccountRole, Establishment, Professional
from ght.directory.vocab import Role


class AccountError(ValueError):
    """A request about accounts that cannot be honoured; the message is for the user (French)."""


def parse_roles(values: list[str]) -> list[Role]:
    roles = []
    for value in values:
        try:
            roles.append(Role(value))
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise AccountError(f"rôle inconnu « {value} » (rôles possibles : {allowed})") from None
    if not roles:
        raise AccountError("au moins un rôle est nécessaire")
    return roles


def has_control_character(text: str) -> bool:
    """Whether `text` holds a control character (NUL, tab, newline...): no account name does,
    and PostgreSQL cannot even compare text with NUL, so such a name never reaches a query."""
    return any(unicodedata.category(c) == "Cc" for c in text)


def normalise_username(username: str) -> str:
    return username.strip().lower()


def create_account(
    db: Session,
    username: str,
    password: str,
    professional: Professional,
    establishment: Establishment | None,
    roles: list[Role],
    *,
    check_password: bool = True,
) -> Account:
    username = normalise_username(username)
    if not username or len(username) > 64 or any(c.isspace() for c in username) or has_control_character(username):
        raise AccountError("identifiant invalide (1 à 64 caractères, sans espace ni caractère de contrôle)")
    if db.scalar(select(func.count()).select_from(Account).where(Account.username == username)):
        raise AccountError(f"l'identifiant « {username} » existe déjà")
    if check_password:
        check_strength(password)
    account = Account(
        username=username,
        password_hash=hash_password(password),
        professional=professional,
        establishment=establishment,
        role_rows=[AccountRole(role=role.value) for role in dict.fromkeys(roles)],
    )
    db.add(account)
    db.flush()
    return account


def authenticate(db: Session, username: str, password: str) -> Account | None:
    """The active account whose password matches, else None (same time either way)."""
    account = _find(db, username)
    if account is None or not account.active:
        verify_password(dummy_hash(), password)
        return None
    if not verify_password(account.password_hash, password):
        return None
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    account.last_login_at = utcnow()
    return account


def _find(db: Session, username: str) -> Account | None:
    if has_control_character(username):
        return None  # no account has one (create_account refuses them)
    return db.scalar(select(Account).where(Account.username == normalise_username(username)))


def _account(db: Session, username: str) -> Account:
    account = _find(db, username)
    if account is None:
        raise AccountError(f"aucun compte « {username} »")
    return account


def _end_sessions(db: Session, account: Account) -> None:
    from ght.auth.models import AuthSession  # auth depends on directory, not the reverse

    db.execute(
        update(AuthSession)
        .where(AuthSession.account_id == account.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def set_password(db: Session, username: str, password: str) -> Account:
    account = _account(db, username)
    check_strength(password)
    account.password_hash = hash_password(password)
    _end_sessions(db, account)
    return account


def disable_account(db: Session, username: str) -> Account:
    account = _account(db, username)
    account.active = False
    _end_sessions(db, account)
    return account
