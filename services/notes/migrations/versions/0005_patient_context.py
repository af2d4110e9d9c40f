"""patient context: who the visit was with and why, and the front desk's room schedule

Encounters gain the patient's name, MRN, date of birth and the reason for the visit
(PHI: database only). ``room_assignments`` holds the next patient (and clinician) the
front desk assigned to a room; the notes service attaches the oldest unused one to the
room's next encounter when it starts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('encounters') as batch:
        batch.add_column(sa.Column('patient_name', sa.String(200), nullable=True))
        batch.add_column(sa.Column('patient_mrn', sa.String(64), nullable=True))
        batch.add_column(sa.Column('patient_dob', sa.Date(), nullable=True))
        batch.add_column(sa.Column('visit_reason', sa.String(300), nullable=True))
        batch.create_index('ix_encounters_patient_mrn', ['patient_mrn'])
    op.create_table(
        'room_assignments',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('room', sa.String(100), nullable=False, index=True),
        sa.Column('patient_name', sa.String(200), nullable=False),
        sa.Column('patient_mrn', sa.String(64), nullable=True),
        sa.Column('patient_dob', sa.Date(), nullable=True),
        sa.Column('visit_reason', sa.String(300), nullable=True),
        sa.Column('clinician', sa.String(100), nullable=True),
        sa.Column('created_by', sa.String(100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('encounter_id', sa.String(64), nullable=True),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table('room_assignments')
    with op.batch_alter_table('encounters') as batch:
        batch.drop_index('ix_encounters_patient_mrn')
        batch.drop_column('visit_reason')
        batch.drop_column('patient_dob')
        batch.drop_column('patient_mrn')
        batch.drop_column('patient_name')
