"""identity features

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 02:32:56.139254
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identity_features',
    sa.Column('identity_id', sa.Integer(), nullable=False),
    sa.Column('bn', sa.String(length=100), nullable=False),
    sa.Column('bnp', sa.String(length=100), nullable=False),
    sa.Column('un', sa.String(length=100), nullable=False),
    sa.Column('gk', sa.String(length=200), nullable=False),
    sa.Column('fg', sa.String(length=100), nullable=False),
    sa.Column('bd', sa.String(length=10), nullable=False),
    sa.Column('sx', sa.String(length=1), nullable=False),
    sa.Column('bp', sa.String(length=5), nullable=False),
    sa.Column('pc', sa.String(length=10), nullable=False),
    sa.Column('ph', sa.String(length=30), nullable=False),
    sa.Column('ins', sa.String(length=15), nullable=False),
    sa.ForeignKeyConstraint(['identity_id'], ['local_identity.id'], name=op.f('fk_identity_features_identity_id_local_identity')),
    sa.PrimaryKeyConstraint('identity_id', name=op.f('pk_identity_features'))
    )
    _backfill()


def _backfill() -> None:
    """Identities stored before this revision get their features: the online matcher reads
    its candidates' features from this table."""
    from ght.identity.features import FEATURE_COLUMNS, features

    traits = ("birth_name", "used_name", "given_names", "birth_date", "sex", "birth_place", "postcode",
              "phone", "ins", "ins_valid")
    identity = sa.table("local_identity", sa.column("id"), sa.column("active"), *(sa.column(t) for t in traits))
    target = sa.table("identity_features", sa.column("identity_id"), *(sa.column(c) for c in FEATURE_COLUMNS))
    bind = op.get_bind()
    rows = bind.execute(sa.select(identity).where(identity.c.active == sa.true())).mappings().all()
    values = []
    for row in rows:
        f = features(**{t: row[t] or ("" if t != "birth_date" else None) for t in traits})
        values.append({"identity_id": row["id"], **{c: getattr(f, c) for c in FEATURE_COLUMNS}})
    for start in range(0, len(values), 10_000):
        bind.execute(target.insert(), values[start:start + 10_000])


def downgrade() -> None:
    op.drop_table('identity_features')
