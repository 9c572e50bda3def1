"""auth: login failures (rate limit), how a session was opened and the OIDC claims it carries;
sessions opened without a scope get the default SMART scope

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ght.db.base

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('failed_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failure'))
    )
    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.create_index('ix_login_failure_key', ['kind', 'key', 'failed_at'], unique=False)

    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('method', sa.String(length=10), server_default='password', nullable=False))
        batch_op.add_column(sa.Column('profession_claim', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('activity_place', sa.Text(), nullable=True))
    # Scopes only narrow what the policy allows: a session issued before scopes were checked
    # (empty scope) keeps what its account may do (ght.auth.scopes.DEFAULT_SCOPE).
    op.execute("UPDATE auth_session SET scopes = 'user/*.*' WHERE scopes = ''")


def downgrade() -> None:
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.drop_column('activity_place')
        batch_op.drop_column('profession_claim')
        batch_op.drop_column('method')
    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failure_key')
    op.drop_table('login_failure')
