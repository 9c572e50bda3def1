"""record: one index (GHT patient, type, last update) for the search by patient

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fhir_resource', schema=None) as batch_op:
        batch_op.drop_index('ix_fhir_resource_ght_patient_id')
        batch_op.create_index('ix_fhir_resource_patient_type_updated', ['ght_patient_id', 'resource_type',
                                                                         'last_updated'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fhir_resource', schema=None) as batch_op:
        batch_op.drop_index('ix_fhir_resource_patient_type_updated')
        batch_op.create_index('ix_fhir_resource_ght_patient_id', ['ght_patient_id'], unique=False)
