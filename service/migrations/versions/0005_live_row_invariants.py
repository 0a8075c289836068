"""invariants held by the database: one queued or running job per project and kind, one live
coding a person added per (segment, code); tokens that expire

Rows breaking them (left by concurrent requests before these indexes) are settled first, nothing
deleted: the later of two active jobs is marked failed, the later of two live added codings
superseded.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

ACTIVE_JOB = "status IN ('queued', 'running')"
LIVE_HUMAN_CODING = "origin = 'human' AND status != 'superseded'"


def upgrade() -> None:
    op.execute(sa.text(
        f"UPDATE jobs SET status = 'failed', error = 'another job of this kind was already "
        f"queued or running' WHERE {ACTIVE_JOB} AND EXISTS (SELECT 1 FROM jobs AS j WHERE "
        f"j.project_id = jobs.project_id AND j.kind = jobs.kind AND "
        f"j.status IN ('queued', 'running') AND j.id < jobs.id)"))
    op.execute(sa.text(
        f"UPDATE suggestions SET status = 'superseded' WHERE {LIVE_HUMAN_CODING} AND EXISTS "
        f"(SELECT 1 FROM suggestions AS s WHERE s.segment_id = suggestions.segment_id AND "
        f"s.code = suggestions.code AND s.origin = 'human' AND s.status != 'superseded' AND "
        f"s.id < suggestions.id)"))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('uq_jobs_active_project_kind', 'jobs', ['project_id', 'kind'], unique=True,
                    sqlite_where=sa.text(ACTIVE_JOB), postgresql_where=sa.text(ACTIVE_JOB))
    op.create_index('uq_suggestions_live_human_coding', 'suggestions', ['segment_id', 'code'],
                    unique=True, sqlite_where=sa.text(LIVE_HUMAN_CODING),
                    postgresql_where=sa.text(LIVE_HUMAN_CODING))


def downgrade() -> None:
    op.drop_index('uq_suggestions_live_human_coding', table_name='suggestions')
    op.drop_index('uq_jobs_active_project_kind', table_name='jobs')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
