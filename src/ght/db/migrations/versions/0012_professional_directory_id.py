"""directory: the GHT directory's identifier of professionals without RPPS or ADELI (DAC
coordinators), so that a CareTeam can name them

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('professional', schema=None) as batch_op:
        batch_op.add_column(sa.Column('directory_id', sa.String(length=20), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_professional_directory_id'), ['directory_id'])


def downgrade() -> None:
    with op.batch_alter_table('professional', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_professional_directory_id'), type_='unique')
        batch_op.drop_column('directory_id')
