"""clinical record: encounters, turns, notes, tokens, audit

Every timestamp is timestamptz on PostgreSQL and naive UTC text on SQLite (see
models.UTCDateTime). Constraint names follow models.NAMING so later revisions can
address them on both databases.

Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('clinician_id', sa.String(length=100), nullable=True),
    sa.Column('token_hash', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('name', name=op.f('uq_api_tokens_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=True),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.Column('encounter_id', sa.String(length=64), nullable=True),
    sa.Column('target', sa.String(length=100), nullable=True),
    sa.Column('source_ip', sa.String(length=64), nullable=True),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_log_encounter_at', ['encounter_id', 'at'], unique=False)

    op.create_table('encounters',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('room', sa.String(length=100), nullable=False),
    sa.Column('clinician', sa.String(length=100), nullable=True),
    sa.Column('llm_model', sa.String(length=100), nullable=False),
    sa.Column('speech_model', sa.String(length=50), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('started', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('transcribed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_frame_seq', sa.Integer(), nullable=True),
    sa.Column('expected_turns', sa.Integer(), nullable=True),
    sa.Column('audio_ms', sa.Integer(), nullable=True),
    sa.Column('stt_audio_s', sa.Integer(), nullable=True),
    sa.Column('stt_session_s', sa.Integer(), nullable=True),
    sa.Column('failure_stage', sa.String(length=20), nullable=True),
    sa.Column('failure_reason', sa.String(length=500), nullable=True),
    sa.Column('missing_seqs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('speaker_roles', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('note_lease_owner', sa.String(length=120), nullable=True),
    sa.Column('note_lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note_attempts', sa.Integer(), nullable=False),
    sa.Column('note_next_try_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note_error', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_encounters'))
    )
    with op.batch_alter_table('encounters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_encounters_clinician'), ['clinician'], unique=False)
        batch_op.create_index(batch_op.f('ix_encounters_started_at'), ['started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_encounters_status'), ['status'], unique=False)

    op.create_table('notes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('encounter_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('sections', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=True),
    sa.Column('author', sa.String(length=100), nullable=True),
    sa.Column('problem', sa.String(length=300), nullable=True),
    sa.Column('missing_seqs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signed_by', sa.String(length=100), nullable=True),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['encounter_id'], ['encounters.id'], name=op.f('fk_notes_encounter_id_encounters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notes')),
    sa.UniqueConstraint('encounter_id', 'version', name='uq_notes_encounter_version')
    )
    op.create_table('turns',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('encounter_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('stt_session_id', sa.String(length=100), nullable=False),
    sa.Column('turn_order', sa.Integer(), nullable=False),
    sa.Column('original_text', sa.Text(), nullable=False),
    sa.Column('edited_text', sa.Text(), nullable=True),
    sa.Column('edit_status', sa.String(length=20), nullable=True),
    sa.Column('edit_reason', sa.String(length=200), nullable=True),
    sa.Column('llm_model', sa.String(length=100), nullable=True),
    sa.Column('flags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('speaker', sa.String(length=20), nullable=True),
    sa.Column('start_ms', sa.Integer(), nullable=False),
    sa.Column('end_ms', sa.Integer(), nullable=False),
    sa.Column('formatted', sa.Boolean(), nullable=False),
    sa.Column('quality', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['encounter_id'], ['encounters.id'], name=op.f('fk_turns_encounter_id_encounters'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_turns')),
    sa.UniqueConstraint('encounter_id', 'seq', name='uq_turns_encounter_seq')
    )


def downgrade() -> None:
    op.drop_table('turns')
    op.drop_table('notes')
    with op.batch_alter_table('encounters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_encounters_status'))
        batch_op.drop_index(batch_op.f('ix_encounters_started_at'))
        batch_op.drop_index(batch_op.f('ix_encounters_clinician'))

    op.drop_table('encounters')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_encounter_at')
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
    op.drop_table('api_tokens')
