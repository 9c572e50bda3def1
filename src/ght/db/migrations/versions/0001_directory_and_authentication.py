"""directory and authentication

Revision ID: 0001
Revises: 
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ght.db.base

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('establishment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('finess_ej', sa.String(length=9), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('short_name', sa.String(length=60), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.CheckConstraint("role IN ('support', 'partie')", name=op.f('ck_establishment_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_establishment')),
    sa.UniqueConstraint('finess_ej', name=op.f('uq_establishment_finess_ej'))
    )
    op.create_table('professional',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rpps', sa.String(length=11), nullable=True),
    sa.Column('adeli', sa.String(length=9), nullable=True),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=False),
    sa.Column('profession', sa.String(length=40), nullable=False),
    sa.Column('specialty', sa.String(length=100), nullable=True),
    sa.Column('external', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_professional')),
    sa.UniqueConstraint('adeli', name=op.f('uq_professional_adeli')),
    sa.UniqueConstraint('rpps', name=op.f('uq_professional_rpps'))
    )
    op.create_table('account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('professional_id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', ght.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_account_establishment_id_establishment')),
    sa.ForeignKeyConstraint(['professional_id'], ['professional.id'], name=op.f('fk_account_professional_id_professional')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account')),
    sa.UniqueConstraint('username', name=op.f('uq_account_username'))
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_professional_id'), ['professional_id'], unique=False)

    op.create_table('site',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('finess_et', sa.String(length=9), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('commune_insee', sa.String(length=5), nullable=False),
    sa.Column('postcode', sa.String(length=5), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('is_main', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_site_establishment_id_establishment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site')),
    sa.UniqueConstraint('finess_et', name=op.f('uq_site_finess_et'))
    )
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_site_establishment_id'), ['establishment_id'], unique=False)

    op.create_table('account_role',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_account_role_account_id_account')),
    sa.PrimaryKeyConstraint('account_id', 'role', name=op.f('pk_account_role'))
    )
    op.create_table('auth_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('scopes', sa.String(length=1000), nullable=False),
    sa.Column('created_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', ght.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('client_address', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_auth_session_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_auth_session_token_hash'))
    )
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_session_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_auth_session_expires_at'), ['expires_at'], unique=False)

    op.create_table('functional_unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('specialty', sa.String(length=100), nullable=False),
    sa.Column('activity', sa.String(length=3), nullable=False),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_functional_unit_establishment_id_establishment')),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_functional_unit_site_id_site')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_functional_unit')),
    sa.UniqueConstraint('establishment_id', 'code', name=op.f('uq_functional_unit_establishment_id_code'))
    )
    with op.batch_alter_table('functional_unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_functional_unit_establishment_id'), ['establishment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_functional_unit_site_id'), ['site_id'], unique=False)

    op.create_table('exercise',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('professional_id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('functional_unit_id', sa.Integer(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_exercise_establishment_id_establishment')),
    sa.ForeignKeyConstraint(['functional_unit_id'], ['functional_unit.id'], name=op.f('fk_exercise_functional_unit_id_functional_unit')),
    sa.ForeignKeyConstraint(['professional_id'], ['professional.id'], name=op.f('fk_exercise_professional_id_professional')),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_exercise_site_id_site')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exercise'))
    )
    with op.batch_alter_table('exercise', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exercise_establishment_id'), ['establishment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exercise_professional_id'), ['professional_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('exercise', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exercise_professional_id'))
        batch_op.drop_index(batch_op.f('ix_exercise_establishment_id'))

    op.drop_table('exercise')
    with op.batch_alter_table('functional_unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_functional_unit_site_id'))
        batch_op.drop_index(batch_op.f('ix_functional_unit_establishment_id'))

    op.drop_table('functional_unit')
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_session_expires_at'))
        batch_op.drop_index(batch_op.f('ix_auth_session_account_id'))

    op.drop_table('auth_session')
    op.drop_table('account_role')
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_site_establishment_id'))

    op.drop_table('site')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_professional_id'))

    op.drop_table('account')
    op.drop_table('professional')
    op.drop_table('establishment')
