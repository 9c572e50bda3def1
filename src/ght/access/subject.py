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
    directory_id: str | None = None  # the GHT directory's identifier, without RPPS or ADELI

    @property
    def practitioner_ids(self) -> frozenset[str]:
        """The FHIR ids this professional has in the record (`Practitioner/pr-<RPPS>`, as the
        directory's Practitioner resources and the HL7 feeds write them)."""
        return frozenset(practitioner_ids(self.rpps, self.adeli, self.directory_id))

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


def practitioner_ids(rpps: str | None, adeli: str | None, directory_id: str | None) -> list[str]:
    """The Practitioner ids of a professional: by RPPS, by ADELI, else by the GHT directory's
    identifier (one rule for the directory's resources, the demo and the policy)."""
    ids = [f"pr-{rpps}"] if rpps else []
    if adeli:
        ids.append(f"pr-adeli-{adeli}")
    if not ids and directory_id:
        ids.append(f"pr-ght-{directory_id}")
    return ids


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
        scopes=scopes, directory_id=professional.directory_id,
    )
