"""Who is asking: the account, its professional and what its session was granted, as the
policy needs them (plain values, no database session)."""

from __future__ import annotations

from dataclasses import dataclass

from ght.directory.vocab import Role


@dataclass(frozen=True, slots=True)
class Subject:
    account_id: int
    username: str
    roles: tuple[str, ...]
    professional_id: int
    rpps: str | None
    adeli: str | None
    external: bool  # a professional outside the group's establishments (GP, home nurse, DAC)
    establishment_id: int | None  # the establishment the account acts for
    scopes: str = ""  # SMART-style scopes of the API token ("" for a UI session)

    @property
    def practitioner_ids(self) -> frozenset[str]:
        """The FHIR ids this professional has in the record (`Practitioner/pr-<RPPS>`, as the
        directory's Practitioner resources and the HL7 feeds write them)."""
        ids = set()
        if self.rpps:
            ids.add(f"pr-{self.rpps}")
        if self.adeli:
            ids.add(f"pr-adeli-{self.adeli}")
        return frozenset(ids)

    @property
    def idnps(self) -> frozenset[str]:
        """The national professional identifiers (IDNPS: 8 + RPPS, 0 + ADELI) a reference may
        carry instead of a Practitioner id."""
        ids = set()
        if self.rpps:
            ids.add(f"8{self.rpps}")
        if self.adeli:
            ids.add(f"0{self.adeli}")
        return frozenset(ids)

    def has(self, *roles: Role) -> bool:
        return any(role.value in self.roles for role in roles)

    @property
    def primary_role(self) -> str:
        return self.roles[0] if self.roles else ""


def subject_of(auth) -> Subject:
    """The Subject of an authenticated session (ght.auth.models.AuthSession)."""
    return subject_of_account(auth.account, auth.scopes or "")


def subject_of_account(account, scopes: str = "") -> Subject:
    """The Subject of a directory Account (a command line, an export job)."""
    professional = account.professional
    return Subject(
        account_id=account.id, username=account.username, roles=tuple(account.roles),
        professional_id=professional.id, rpps=professional.rpps, adeli=professional.adeli,
        external=bool(professional.external), establishment_id=account.establishment_id,
        scopes=scopes,
    )
