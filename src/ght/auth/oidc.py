"""OpenID Connect for professionals (Pro Santé Connect-style): the relying party's client
(Authlib) and how the provider's claims map to an account of the directory.

The code flow itself (discovery, PKCE S256, state, nonce, code exchange, ID token signature,
issuer, audience, expiry and nonce checks) is Authlib's; the routes are in ght.web.oidc.

Which account a professional gets, from the national identifier the provider asserts
(`GHT_OIDC_CLAIM_NATIONAL_ID`; PSC's idNat_PS is "8" + RPPS or "0" + ADELI):
- unknown to the directory: refused;
- the active account bound to that professional of the directory;
- several active accounts (one per establishment, say): the one whose establishment's FINESS
  (juridique or of one of its sites) is among the asserted places of activity; refused when that
  does not single one out;
- only disabled accounts: refused;
- no account: refused, except for a professional the directory marks as external to the
  group's establishments (GP, home nurse), who gets one at the first login with the role
  `external` only and no establishment (GHT_OIDC_PROVISION_EXTERNAL). The directory says
  nothing of the roles of the group's own staff: those are granted by the DSI, never guessed
  from a profession; an external professional's role is what the directory already says, and
  it opens nothing until a CareTeam membership names them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ght.config import Settings
from ght.db.base import utcnow
from ght.directory.identifiers import adeli_is_valid, rpps_is_valid
from ght.directory.models import Account, AccountRole, Professional
from ght.directory.vocab import Role

CLIENT_NAME = "psc"
ACTIVITY_PLACE_MAX = 4000


class Refusal(Exception):
    """A login the provider vouched for but that ght refuses; the message is for the user."""


def make_client(settings: Settings):
    """The Authlib client of the configured provider (discovery is fetched at first use)."""
    from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    oauth.register(
        CLIENT_NAME,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings.oidc_scopes,
            "code_challenge_method": "S256",
            "timeout": settings.oidc_timeout_seconds,
        },
    )
    return oauth.create_client(CLIENT_NAME)


def claim_values(claims: dict, path: str) -> list[Any]:
    """The values at a dotted path; a list on the way is walked element by element (so
    `SubjectRefPro.exercices.codeProfession` gives the profession of every exercise)."""
    found: list[Any] = [claims]
    for part in path.split("."):
        step: list[Any] = []
        for value in found:
            if isinstance(value, list):
                value = [v.get(part) for v in value if isinstance(v, dict)]
                step.extend(v for v in value if v is not None)
            elif isinstance(value, dict) and value.get(part) is not None:
                step.append(value[part])
        found = step
    flat: list[Any] = []
    for value in found:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


@dataclass(frozen=True)
class NationalId:
    register: str  # "rpps" or "adeli"
    number: str

    def __str__(self) -> str:
        return f"{self.register.upper()} {self.number}"


def national_id(value: Any) -> NationalId | None:
    """RPPS or ADELI from PSC's idNat_PS ("8" + RPPS, "0" + ADELI) or a bare number."""
    text = str(value or "").strip()
    if len(text) == 12 and text[0] == "8" and rpps_is_valid(text[1:]):
        return NationalId("rpps", text[1:])
    if len(text) == 11 and rpps_is_valid(text):
        return NationalId("rpps", text)
    if len(text) == 10 and text[0] == "0" and adeli_is_valid(text[1:]):
        return NationalId("adeli", text[1:])
    if len(text) == 9 and adeli_is_valid(text):
        return NationalId("adeli", text)
    return None


def asserted_national_id(claims: dict, settings: Settings) -> NationalId:
    values = claim_values(claims, settings.oidc_claim_national_id)
    if not values:
        raise Refusal(
            "Le fournisseur d'identité n'a pas transmis votre numéro RPPS ou ADELI "
            f"(donnée « {settings.oidc_claim_national_id} ») : la connexion est impossible."
        )
    found = national_id(values[0])
    if found is None:
        raise Refusal(
            f"Le numéro d'identification transmis par le fournisseur d'identité (« {values[0]} ») "
            "n'est ni un RPPS ni un ADELI valide : la connexion est refusée."
        )
    return found


@dataclass(frozen=True)
class Login:
    account: Account
    national_id: NationalId
    profession: str | None  # the asserted profession code(s), as sent
    activity_place: str | None  # the asserted place(s) of activity, JSON


def _leaves(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_leaves(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_leaves(v) for v in value)) if value else set()
    return {str(value).strip()} if value is not None else set()


def _account_finess(account: Account) -> set[str]:
    if account.establishment is None:
        return set()
    return {account.establishment.finess_ej, *(site.finess_et for site in account.establishment.sites)}


def login_account(db: Session, settings: Settings, claims: dict) -> Login:
    """The account of the professional the claims describe (see the module's rules), or Refusal."""
    nid = asserted_national_id(claims, settings)
    column = Professional.rpps if nid.register == "rpps" else Professional.adeli
    professional = db.scalar(select(Professional).where(column == nid.number))
    if professional is None:
        raise Refusal(
            f"Vous n'êtes pas enregistré dans l'annuaire du GHT ({nid}) : la connexion est refusée. "
            "Adressez-vous à la direction des systèmes d'information de votre établissement."
        )
    places = claim_values(claims, settings.oidc_claim_activity_place)
    professions = claim_values(claims, settings.oidc_claim_profession)
    accounts = db.scalars(
        select(Account).where(Account.professional_id == professional.id).order_by(Account.id)
    ).unique().all()
    active = [a for a in accounts if a.active]
    if not accounts:
        account = _provision(db, settings, professional, nid)
    elif not active:
        raise Refusal("Votre compte est désactivé : adressez-vous à la direction des systèmes d'information.")
    elif len(active) == 1:
        account = active[0]
    else:
        asserted = _leaves(places)
        matching = [a for a in active if _account_finess(a) & asserted]
        if len(matching) != 1:
            raise Refusal(
                "Vous avez plusieurs comptes et le lieu d'exercice transmis ne permet pas de choisir : "
                "connectez-vous avec l'identifiant et le mot de passe du compte voulu."
            )
        account = matching[0]
    account.last_login_at = utcnow()
    activity = json.dumps(places, ensure_ascii=False, separators=(",", ":"), sort_keys=True) if places else None
    return Login(
        account=account,
        national_id=nid,
        profession=" ".join(str(p) for p in dict.fromkeys(professions))[:200] or None,
        activity_place=activity[:ACTIVITY_PLACE_MAX] if activity else None,
    )


def _provision(db: Session, settings: Settings, professional: Professional, nid: NationalId) -> Account:
    if not (professional.external and settings.oidc_provision_external):
        raise Refusal(
            "Vous êtes enregistré dans l'annuaire du GHT mais n'avez pas encore de compte : "
            "demandez-le à la direction des systèmes d'information de votre établissement."
        )
    username = f"psc.{nid.number}"
    if db.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise Refusal(f"L'identifiant « {username} » est déjà pris : adressez-vous à la direction des systèmes d'information.")
    account = Account(
        username=username,
        password_hash=None,  # signs in through the provider only
        professional=professional,
        establishment=None,
        role_rows=[AccountRole(role=Role.EXTERNAL.value)],
    )
    db.add(account)
    db.flush()
    return account
