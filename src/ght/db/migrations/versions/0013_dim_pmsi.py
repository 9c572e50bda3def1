"""dim: imported PMSI files, their RUMs and acts

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ght.db.base

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dim_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('finess', sa.String(length=9), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('year', sa.SmallInteger(), nullable=False),
    sa.Column('month', sa.SmallInteger(), nullable=False),
    sa.Column('format', sa.String(length=40), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('stays', sa.Integer(), nullable=False),
    sa.Column('linked', sa.Integer(), nullable=False),
    sa.Column('imported_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('imported_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_dim_import_establishment_id_establishment')),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_dim_import_site_id_site')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dim_import')),
    sa.UniqueConstraint('finess', 'year', 'month', name=op.f('uq_dim_import_finess_year_month'))
    )
    op.create_table('dim_act',
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('act_date', sa.Date(), nullable=False),
    sa.Column('code', sa.String(length=7), nullable=False),
    sa.Column('phase', sa.String(length=1), nullable=False),
    sa.Column('activity', sa.String(length=1), nullable=False),
    sa.Column('executions', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['dim_import.id'], name=op.f('fk_dim_act_import_id_dim_import'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('import_id', 'line', 'position', name=op.f('pk_dim_act'))
    )
    op.create_table('dim_rum',
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('rss', sa.String(length=20), nullable=False),
    sa.Column('nas', sa.String(length=20), nullable=False),
    sa.Column('rum', sa.String(length=10), nullable=False),
    sa.Column('ipp', sa.String(length=40), nullable=True),
    sa.Column('ght_patient_id', sa.String(length=16), nullable=True),
    sa.Column('link_method', sa.String(length=8), nullable=True),
    sa.Column('chaining_key', sa.String(length=17), nullable=True),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('sex', sa.String(length=1), nullable=False),
    sa.Column('um', sa.String(length=4), nullable=False),
    sa.Column('entry_date', sa.Date(), nullable=False),
    sa.Column('entry_mode', sa.String(length=1), nullable=False),
    sa.Column('provenance', sa.String(length=1), nullable=False),
    sa.Column('exit_date', sa.Date(), nullable=False),
    sa.Column('exit_mode', sa.String(length=1), nullable=False),
    sa.Column('destination', sa.String(length=1), nullable=False),
    sa.Column('postcode', sa.String(length=5), nullable=False),
    sa.Column('sessions', sa.SmallInteger(), nullable=False),
    sa.Column('dp', sa.String(length=8), nullable=False),
    sa.Column('dr', sa.String(length=8), nullable=False),
    sa.Column('das', sa.String(length=1000), nullable=False),
    sa.Column('ghm', sa.String(length=6), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['dim_import.id'], name=op.f('fk_dim_rum_import_id_dim_import'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('import_id', 'line', name=op.f('pk_dim_rum'))
    )
    with op.batch_alter_table('dim_rum', schema=None) as batch_op:
        batch_op.create_index('ix_dim_rum_patient', ['ght_patient_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dim_rum', schema=None) as batch_op:
        batch_op.drop_index('ix_dim_rum_patient')

    op.drop_table('dim_rum')
    op.drop_table('dim_act')
    op.drop_table('dim_import')
