from sqlalchemy import select, text

from support import PASSWORD
from ght.auth.passwords import WeakPassword
from ght.directory.accounts import AccountError, authenticate, create_account, disable_account, set_password
from ght.directory.models import Account
from ght.directory.vocab import Role

import pytest


def test_password_is_stored_as_argon2id_hash_only(db, make_account):
    account = make_account(password=PASSWORD)
    stored = db.execute(text("SELECT password_hash FROM account WHERE id = :id"), {"id": account.id}).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    # Nowhere else in the row either: the raw row is dumped as text.
    row = db.execute(text("SELECT * FROM account WHERE id = :id"), {"id": account.id}).one()
    assert all(PASSWORD not in str(value) for value in row)


def test_same_password_gives_different_hashes(db, make_account):
    first = make_account("alice.a", password=PASSWORD)
    second = make_account("bob.b", password=PASSWORD)
    assert first.password_hash != second.password_hash  # random salt per account


def test_authenticate_accepts_right_and_refuses_wrong_password(db, make_account):
    make_account("claire.m")
    assert authenticate(db, "claire.m", PASSWORD).username == "claire.m"
    assert authenticate(db, "Claire.M ", PASSWORD) is not None  # usernames are case-insensitive
    assert authenticate(db, "claire.m", PASSWORD + "x") is None
    assert authenticate(db, "claire.m", "") is None
    assert authenticate(db, "nobody", PASSWORD) is None


def test_authenticate_records_last_login(db, make_account):
    make_account("claire.m")
    account = authenticate(db, "claire.m", PASSWORD)
    db.commit()
    assert db.scalar(select(Account.last_login_at).where(Account.id == account.id)) is not None


def test_disabled_account_cannot_log_in(db, make_account):
    make_account("claire.m")
    disable_account(db, "claire.m")
    db.commit()
    assert authenticate(db, "claire.m", PASSWORD) is None


def test_set_password_replaces_the_old_one(db, make_account):
    make_account("claire.m")
    set_password(db, "claire.m", "a brand new passphrase")
    db.commit()
    assert authenticate(db, "claire.m", PASSWORD) is None
    assert authenticate(db, "claire.m", "a brand new passphrase") is not None


def test_weak_password_and_duplicate_username_are_refused(db, make_account):
    account = make_account("claire.m")
    with pytest.raises(WeakPassword, match="12 caractères"):
        create_account(db, "other", "short", account.professional, account.establishment, [Role.NURSE])
    with pytest.raises(AccountError, match="existe déjà"):
        create_account(db, "CLAIRE.M", PASSWORD, account.professional, account.establishment, [Role.NURSE])


def test_names_with_a_control_character_are_never_accounts(db, make_account):
    """Found by fuzzing (tests/api/test_fuzz_openapi.py): a NUL in a login name reached
    PostgreSQL, which cannot compare text with NUL (500). No account may have one, so the lookup
    does not even ask the database."""
    account = make_account("claire.m")
    for name in ("claire\x00.m", "claire.m\x00", "claire\n.m"):
        with pytest.raises(AccountError) as refused:
            create_account(db, name, PASSWORD, account.professional, account.establishment, [Role.NURSE])
        assert str(refused.value) == "identifiant invalide (1 à 64 caractères, sans espace ni caractère de contrôle)"
        assert authenticate(db, name, PASSWORD) is None
    with pytest.raises(AccountError, match="aucun compte « claire.m\x00 »"):
        set_password(db, "claire.m\x00", PASSWORD)
