"""bulk export jobs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 02:59:47.025873
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ght.db.base

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bulk_export_job',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('group_id', sa.String(length=16), nullable=True),
    sa.Column('types', sa.JSON(), nullable=True),
    sa.Column('since', ght.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('request_url', sa.String(length=2000), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=120), nullable=False),
    sa.Column('created_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('transaction_time', ght.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', ght.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('progress', sa.String(length=200), nullable=False),
    sa.Column('output', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_bulk_export_job_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulk_export_job'))
    )
    with op.batch_alter_table('bulk_export_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulk_export_job_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bulk_export_job_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('bulk_export_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bulk_export_job_status'))
        batch_op.drop_index(batch_op.f('ix_bulk_export_job_account_id'))

    op.drop_table('bulk_export_job')
