"""access: break-the-glass declarations and explicit grants

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 14:19:48.584400
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ght.db.base

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('access_break_glass',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('ght_patient_id', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('started_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('client_address', sa.String(length=45), nullable=True),
    sa.Column('reviewed_at', ght.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('reviewed_by', sa.Integer(), nullable=True),
    sa.Column('review_verdict', sa.String(length=16), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_access_break_glass_account_id_account')),
    sa.ForeignKeyConstraint(['reviewed_by'], ['account.id'], name=op.f('fk_access_break_glass_reviewed_by_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_break_glass'))
    )
    with op.batch_alter_table('access_break_glass', schema=None) as batch_op:
        batch_op.create_index('ix_access_break_glass_account_patient', ['account_id', 'ght_patient_id', 'expires_at'], unique=False)
        batch_op.create_index('ix_access_break_glass_review', ['reviewed_at', 'started_at'], unique=False)

    op.create_table('access_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('ght_patient_id', sa.String(length=16), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('granted_by', sa.Integer(), nullable=False),
    sa.Column('starts_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', ght.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('sensitive', 'record')", name=op.f('ck_access_grant_kind')),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_access_grant_account_id_account')),
    sa.ForeignKeyConstraint(['granted_by'], ['account.id'], name=op.f('fk_access_grant_granted_by_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_grant'))
    )
    with op.batch_alter_table('access_grant', schema=None) as batch_op:
        batch_op.create_index('ix_access_grant_account', ['account_id', 'ends_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('access_grant', schema=None) as batch_op:
        batch_op.drop_index('ix_access_grant_account')

    op.drop_table('access_grant')
    with op.batch_alter_table('access_break_glass', schema=None) as batch_op:
        batch_op.drop_index('ix_access_break_glass_review')
        batch_op.drop_index('ix_access_break_glass_account_patient')

    op.drop_table('access_break_glass')
