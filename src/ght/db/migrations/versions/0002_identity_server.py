"""identity server

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ght.db.base

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ght_patient',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('created_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('merged_into', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['merged_into'], ['ght_patient.id'], name=op.f('fk_ght_patient_merged_into_ght_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ght_patient'))
    )
    with op.batch_alter_table('ght_patient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ght_patient_merged_into'), ['merged_into'], unique=False)

    op.create_table('match_model',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('method', sa.String(length=40), nullable=False),
    sa.Column('trained_on', sa.Integer(), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_model'))
    )
    op.create_table('local_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('ipp', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('birth_name', sa.String(length=100), nullable=False),
    sa.Column('first_given_name', sa.String(length=100), nullable=False),
    sa.Column('given_names', sa.String(length=200), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('sex', sa.String(length=1), nullable=False),
    sa.Column('birth_place', sa.String(length=5), nullable=False),
    sa.Column('used_name', sa.String(length=100), nullable=False),
    sa.Column('used_given_name', sa.String(length=100), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('postcode', sa.String(length=10), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=30), nullable=False),
    sa.Column('ins', sa.String(length=15), nullable=True),
    sa.Column('ins_oid', sa.String(length=64), nullable=True),
    sa.Column('ins_valid', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=5), nullable=False),
    sa.Column('flags', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_local_identity_establishment_id_establishment')),
    sa.ForeignKeyConstraint(['patient_id'], ['ght_patient.id'], name=op.f('fk_local_identity_patient_id_ght_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_local_identity')),
    sa.UniqueConstraint('establishment_id', 'ipp', name=op.f('uq_local_identity_establishment_id_ipp'))
    )
    with op.batch_alter_table('local_identity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_local_identity_ins'), ['ins'], unique=False)
        batch_op.create_index(batch_op.f('ix_local_identity_patient_id'), ['patient_id'], unique=False)

    op.create_table('subscriber',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('endpoint', sa.String(length=300), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_subscriber_establishment_id_establishment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriber'))
    )
    op.create_table('blocking_key',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('identity_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['identity_id'], ['local_identity.id'], name=op.f('fk_blocking_key_identity_id_local_identity')),
    sa.PrimaryKeyConstraint('key', 'identity_id', name=op.f('pk_blocking_key'))
    )
    with op.batch_alter_table('blocking_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_blocking_key_identity_id'), ['identity_id'], unique=False)

    op.create_table('identity_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('identity_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('event', sa.String(length=20), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['identity_id'], ['local_identity.id'], name=op.f('fk_identity_change_identity_id_local_identity')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_change'))
    )
    with op.batch_alter_table('identity_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_change_identity_id'), ['identity_id'], unique=False)

    op.create_table('link_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('identity_id', sa.Integer(), nullable=True),
    sa.Column('from_patient', sa.String(length=16), nullable=True),
    sa.Column('to_patient', sa.String(length=16), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('undone_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['identity_id'], ['local_identity.id'], name=op.f('fk_link_event_identity_id_local_identity')),
    sa.ForeignKeyConstraint(['undone_by'], ['link_event.id'], name=op.f('fk_link_event_undone_by_link_event')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_event'))
    )
    with op.batch_alter_table('link_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_event_identity_id'), ['identity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_link_event_to_patient'), ['to_patient'], unique=False)

    op.create_table('review_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('identity_a', sa.Integer(), nullable=False),
    sa.Column('identity_b', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('probability', sa.Float(), nullable=True),
    sa.Column('contributions', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', ght.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['identity_a'], ['local_identity.id'], name=op.f('fk_review_item_identity_a_local_identity')),
    sa.ForeignKeyConstraint(['identity_b'], ['local_identity.id'], name=op.f('fk_review_item_identity_b_local_identity')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_item'))
    )
    with op.batch_alter_table('review_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_item_identity_a'), ['identity_a'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_item_identity_b'), ['identity_b'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_item_status'), ['status'], unique=False)

    op.create_table('publication',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('link_event_id', sa.Integer(), nullable=False),
    sa.Column('created_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', ght.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('sent_at', ght.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['link_event_id'], ['link_event.id'], name=op.f('fk_publication_link_event_id_link_event')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], name=op.f('fk_publication_subscriber_id_subscriber')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publication'))
    )
    with op.batch_alter_table('publication', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_publication_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_publication_subscriber_id'), ['subscriber_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('publication', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_publication_subscriber_id'))
        batch_op.drop_index(batch_op.f('ix_publication_status'))

    op.drop_table('publication')
    with op.batch_alter_table('review_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_item_status'))
        batch_op.drop_index(batch_op.f('ix_review_item_identity_b'))
        batch_op.drop_index(batch_op.f('ix_review_item_identity_a'))

    op.drop_table('review_item')
    with op.batch_alter_table('link_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_event_to_patient'))
        batch_op.drop_index(batch_op.f('ix_link_event_identity_id'))

    op.drop_table('link_event')
    with op.batch_alter_table('identity_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_change_identity_id'))

    op.drop_table('identity_change')
    with op.batch_alter_table('blocking_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_blocking_key_identity_id'))

    op.drop_table('blocking_key')
    op.drop_table('subscriber')
    with op.batch_alter_table('local_identity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_local_identity_patient_id'))
        batch_op.drop_index(batch_op.f('ix_local_identity_ins'))

    op.drop_table('local_identity')
    op.drop_table('match_model')
    with op.batch_alter_table('ght_patient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ght_patient_merged_into'))

    op.drop_table('ght_patient')
