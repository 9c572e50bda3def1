"""shared record: FHIR resources, versions, search index, Patient bodies

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 02:39:33.776746
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

import ght.db.base
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fhir_resource',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('resource_type', sa.String(length=40), nullable=False),
    sa.Column('fhir_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('last_updated', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('ght_patient_id', sa.String(length=16), nullable=True),
    sa.Column('local_identity_id', sa.Integer(), nullable=True),
    sa.Column('source_establishment_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['local_identity_id'], ['local_identity.id'], name=op.f('fk_fhir_resource_local_identity_id_local_identity')),
    sa.ForeignKeyConstraint(['source_establishment_id'], ['establishment.id'], name=op.f('fk_fhir_resource_source_establishment_id_establishment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_resource')),
    sa.UniqueConstraint('resource_type', 'fhir_id', name=op.f('uq_fhir_resource_resource_type_fhir_id'))
    )
    with op.batch_alter_table('fhir_resource', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fhir_resource_ght_patient_id'), ['ght_patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fhir_resource_local_identity_id'), ['local_identity_id'], unique=False)
        batch_op.create_index('ix_fhir_resource_type_updated', ['resource_type', 'last_updated'], unique=False)

    op.create_table('patient_resource',
    sa.Column('identity_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('last_updated', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('body', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['identity_id'], ['local_identity.id'], name=op.f('fk_patient_resource_identity_id_local_identity')),
    sa.PrimaryKeyConstraint('identity_id', 'version', name=op.f('pk_patient_resource'))
    )
    op.create_table('fhir_resource_version',
    sa.Column('resource_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('resource_type', sa.String(length=40), nullable=False),
    sa.Column('last_updated', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('method', sa.String(length=6), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('body', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['resource_id'], ['fhir_resource.id'], name=op.f('fk_fhir_resource_version_resource_id_fhir_resource')),
    sa.PrimaryKeyConstraint('resource_id', 'version', name=op.f('pk_fhir_resource_version'))
    )
    with op.batch_alter_table('fhir_resource_version', schema=None) as batch_op:
        batch_op.create_index('ix_fhir_resource_version_type_updated', ['resource_type', 'last_updated'], unique=False)

    op.create_table('search_date',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('resource_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('resource_type', sa.String(length=40), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('low', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('high', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['fhir_resource.id'], name=op.f('fk_search_date_resource_id_fhir_resource')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_date'))
    )
    with op.batch_alter_table('search_date', schema=None) as batch_op:
        batch_op.create_index('ix_search_date_high', ['resource_type', 'param', 'high'], unique=False)
        batch_op.create_index('ix_search_date_low', ['resource_type', 'param', 'low'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_date_resource_id'), ['resource_id'], unique=False)

    op.create_table('search_quantity',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('resource_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('resource_type', sa.String(length=40), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('system', sa.String(length=255), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['fhir_resource.id'], name=op.f('fk_search_quantity_resource_id_fhir_resource')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_quantity'))
    )
    with op.batch_alter_table('search_quantity', schema=None) as batch_op:
        batch_op.create_index('ix_search_quantity_lookup', ['resource_type', 'param', 'value'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_quantity_resource_id'), ['resource_id'], unique=False)

    op.create_table('search_reference',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('resource_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('resource_type', sa.String(length=40), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=False),
    sa.Column('target_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['fhir_resource.id'], name=op.f('fk_search_reference_resource_id_fhir_resource')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_reference'))
    )
    with op.batch_alter_table('search_reference', schema=None) as batch_op:
        batch_op.create_index('ix_search_reference_lookup', ['resource_type', 'param', 'target_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_reference_resource_id'), ['resource_id'], unique=False)
        batch_op.create_index('ix_search_reference_target', ['target_type', 'target_id'], unique=False)

    op.create_table('search_string',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('resource_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('resource_type', sa.String(length=40), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['fhir_resource.id'], name=op.f('fk_search_string_resource_id_fhir_resource')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_string'))
    )
    with op.batch_alter_table('search_string', schema=None) as batch_op:
        batch_op.create_index('ix_search_string_lookup', ['resource_type', 'param', 'value'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_string_resource_id'), ['resource_id'], unique=False)

    op.create_table('search_token',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('resource_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('resource_type', sa.String(length=40), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=255), nullable=False),
    sa.Column('code', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['fhir_resource.id'], name=op.f('fk_search_token_resource_id_fhir_resource')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_token'))
    )
    with op.batch_alter_table('search_token', schema=None) as batch_op:
        batch_op.create_index('ix_search_token_lookup', ['resource_type', 'param', 'code', 'system'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_token_resource_id'), ['resource_id'], unique=False)

    # ### end Alembic commands ###


def downgrade() -> None:
    with op.batch_alter_table('search_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_token_resource_id'))
        batch_op.drop_index('ix_search_token_lookup')

    op.drop_table('search_token')
    with op.batch_alter_table('search_string', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_string_resource_id'))
        batch_op.drop_index('ix_search_string_lookup')

    op.drop_table('search_string')
    with op.batch_alter_table('search_reference', schema=None) as batch_op:
        batch_op.drop_index('ix_search_reference_target')
        batch_op.drop_index(batch_op.f('ix_search_reference_resource_id'))
        batch_op.drop_index('ix_search_reference_lookup')

    op.drop_table('search_reference')
    with op.batch_alter_table('search_quantity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_quantity_resource_id'))
        batch_op.drop_index('ix_search_quantity_lookup')

    op.drop_table('search_quantity')
    with op.batch_alter_table('search_date', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_date_resource_id'))
        batch_op.drop_index('ix_search_date_low')
        batch_op.drop_index('ix_search_date_high')

    op.drop_table('search_date')
    with op.batch_alter_table('fhir_resource_version', schema=None) as batch_op:
        batch_op.drop_index('ix_fhir_resource_version_type_updated')

    op.drop_table('fhir_resource_version')
    op.drop_table('patient_resource')
    with op.batch_alter_table('fhir_resource', schema=None) as batch_op:
        batch_op.drop_index('ix_fhir_resource_type_updated')
        batch_op.drop_index(batch_op.f('ix_fhir_resource_local_identity_id'))
        batch_op.drop_index(batch_op.f('ix_fhir_resource_ght_patient_id'))

    op.drop_table('fhir_resource')
    # ### end Alembic commands ###
