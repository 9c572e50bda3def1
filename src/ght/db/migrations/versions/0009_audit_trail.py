"""audit: the access trace (entries, chain head, purge anchors)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 05:43:28.027534
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ght.db.base

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_anchor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('chain_seq', sa.BigInteger(), nullable=False),
    sa.Column('previous_hash', sa.String(length=64), nullable=False),
    sa.Column('cutoff', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('purged_count', sa.BigInteger(), nullable=False),
    sa.Column('purged_by', sa.String(length=64), nullable=False),
    sa.Column('previous_anchor_hash', sa.String(length=64), nullable=False),
    sa.Column('anchor_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_anchor'))
    )
    op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chain_seq', sa.BigInteger(), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.Column('sealed_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_audit_chain_head_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )
    op.create_table('audit_entry',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('recorded_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('rpps', sa.String(length=11), nullable=True),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=True),
    sa.Column('ght_patient_id', sa.String(length=16), nullable=True),
    sa.Column('resources', sa.Text(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('door', sa.String(length=8), nullable=False),
    sa.Column('client_address', sa.String(length=45), nullable=True),
    sa.Column('break_glass_reason', sa.Text(), nullable=True),
    sa.Column('chain_seq', sa.BigInteger(), nullable=True),
    sa.Column('previous_hash', sa.String(length=64), nullable=True),
    sa.Column('entry_hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry')),
    sa.UniqueConstraint('chain_seq', name=op.f('uq_audit_entry_chain_seq')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entry_account_time', ['account_id', 'recorded_at'], unique=False)
        batch_op.create_index('ix_audit_entry_patient_time', ['ght_patient_id', 'recorded_at'], unique=False)
        batch_op.create_index('ix_audit_entry_recorded_at', ['recorded_at'], unique=False)
        batch_op.create_index('ix_audit_entry_unsealed', ['id'], unique=False, postgresql_where=sa.text('chain_seq IS NULL'), sqlite_where=sa.text('chain_seq IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entry_unsealed', postgresql_where=sa.text('chain_seq IS NULL'), sqlite_where=sa.text('chain_seq IS NULL'))
        batch_op.drop_index('ix_audit_entry_recorded_at')
        batch_op.drop_index('ix_audit_entry_patient_time')
        batch_op.drop_index('ix_audit_entry_account_time')
    op.drop_table('audit_entry')
    op.drop_table('audit_chain_head')
    op.drop_table('audit_anchor')
