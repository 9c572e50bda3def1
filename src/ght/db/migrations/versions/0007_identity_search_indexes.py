"""identity search indexes: birth name, used name, birth date (PDQm search)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('local_identity', schema=None) as batch_op:
        batch_op.create_index('ix_local_identity_birth_date', ['birth_date'], unique=False)
        batch_op.create_index('ix_local_identity_birth_name', ['birth_name'], unique=False)
        batch_op.create_index('ix_local_identity_used_name', ['used_name'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('local_identity', schema=None) as batch_op:
        batch_op.drop_index('ix_local_identity_used_name')
        batch_op.drop_index('ix_local_identity_birth_name')
        batch_op.drop_index('ix_local_identity_birth_date')
