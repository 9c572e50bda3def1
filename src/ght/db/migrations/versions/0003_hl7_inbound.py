"""hl7 inbound: journal of received HL7 v2 messages

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ght.db.base

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hl7_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('peer', sa.String(length=100), nullable=False),
    sa.Column('sending_application', sa.String(length=255), nullable=False),
    sa.Column('sending_facility', sa.String(length=255), nullable=False),
    sa.Column('control_id', sa.String(length=199), nullable=True),
    sa.Column('message_type', sa.String(length=30), nullable=False),
    sa.Column('charset', sa.String(length=20), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('ack_code', sa.String(length=2), nullable=True),
    sa.Column('ack', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('result', sa.String(length=300), nullable=False),
    sa.Column('applied_at', ght.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('received', 'applied', 'rejected', 'error')", name=op.f('ck_hl7_message_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hl7_message')),
    sa.UniqueConstraint('sending_application', 'sending_facility', 'control_id', name=op.f('uq_hl7_message_sending_application_sending_facility_control_id'))
    )
    with op.batch_alter_table('hl7_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hl7_message_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('hl7_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hl7_message_status'))

    op.drop_table('hl7_message')
