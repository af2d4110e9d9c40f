"""patient context: who the visit was with and why, and the front desk's room schedule

Encounters gain the patient's name, MRN, date of birth and the reason for the visit
(PHI: database only). ``room_assignments`` holds the next patient (and clinician) the
front desk assigned to a room; the notes service attaches the oldest unused one to the
room's next encounter when it starts.

Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.notes.migrations.columns import add_columns, drop_columns

revision = '0005'
down_revision = '0004'


def upgrade() -> None:
    add_columns(
        'encounters',
        sa.Column('patient_name', sa.String(200), nullable=True),
        sa.Column('patient_mrn', sa.String(64), nullable=True),
        sa.Column('patient_dob', sa.Date(), nullable=True),
        sa.Column('visit_reason', sa.String(300), nullable=True),
        indexes={'ix_encounters_patient_mrn': ['patient_mrn']},
    )
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
    drop_columns(
        'encounters',
        'visit_reason',
        'patient_dob',
        'patient_mrn',
        'patient_name',
        indexes=['ix_encounters_patient_mrn'],
    )
