"""decisions per coder: each person's current decision on a suggestion, the project's consensus
apart from them, blind coding, segments a person coded, memos

Every person's latest review of a suggestion becomes their decision (an import's, the coder the
file names); a suggestion's status stays the project's view.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

WHO = "COALESCE({r}.coder, {u}.name)"


def upgrade() -> None:
    # plain ADD COLUMNs: rebuilding these tables (SQLite's batch mode) would trip over the rows
    # that refer to them
    op.add_column('projects', sa.Column('blind', sa.Boolean(), server_default='0',
                                        nullable=False))
    op.add_column('suggestions', sa.Column('consensus_status', sa.String(length=12),
                                           nullable=True))
    op.add_column('suggestions', sa.Column('consensus_code', sa.String(length=200),
                                           nullable=True))
    if op.get_bind().dialect.name == "sqlite":  # which adds a reference only with the column
        op.execute(sa.text("ALTER TABLE suggestions ADD COLUMN consensus_by INTEGER CONSTRAINT "
                           "fk_suggestions_consensus_by_users REFERENCES users (id)"))
    else:
        op.add_column('suggestions', sa.Column('consensus_by', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_suggestions_consensus_by_users'), 'suggestions',
                              'users', ['consensus_by'], ['id'])
    op.add_column('suggestions', sa.Column('consensus_at', sa.DateTime(timezone=True),
                                           nullable=True))
    op.create_table(
        'decisions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('suggestion_id', sa.Integer(), nullable=False),
        sa.Column('reviewer_id', sa.Integer(), nullable=False),
        sa.Column('coder', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('code', sa.String(length=200), nullable=True),
        sa.Column('review_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'],
                                name=op.f('fk_decisions_project_id_projects')),
        sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'],
                                name=op.f('fk_decisions_reviewer_id_users')),
        sa.ForeignKeyConstraint(['review_id'], ['reviews.id'],
                                name=op.f('fk_decisions_review_id_reviews')),
        sa.ForeignKeyConstraint(['suggestion_id'], ['suggestions.id'],
                                name=op.f('fk_decisions_suggestion_id_suggestions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_decisions')),
        sa.UniqueConstraint('suggestion_id', 'reviewer_id', 'coder',
                            name=op.f('uq_decisions_suggestion_id')))
    op.create_index(op.f('ix_decisions_project_id'), 'decisions', ['project_id'])
    op.create_index(op.f('ix_decisions_suggestion_id'), 'decisions', ['suggestion_id'])
    op.create_index(op.f('ix_decisions_reviewer_id'), 'decisions', ['reviewer_id'])
    op.create_table(
        'coded_segments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('segment_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'],
                                name=op.f('fk_coded_segments_project_id_projects')),
        sa.ForeignKeyConstraint(['segment_id'], ['segments.id'],
                                name=op.f('fk_coded_segments_segment_id_segments')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_coded_segments_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_coded_segments')),
        sa.UniqueConstraint('segment_id', 'user_id', name=op.f('uq_coded_segments_segment_id')))
    op.create_index(op.f('ix_coded_segments_project_id'), 'coded_segments', ['project_id'])
    op.create_index(op.f('ix_coded_segments_segment_id'), 'coded_segments', ['segment_id'])
    op.create_table(
        'memos',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('segment_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'],
                                name=op.f('fk_memos_author_id_users')),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'],
                                name=op.f('fk_memos_project_id_projects')),
        sa.ForeignKeyConstraint(['segment_id'], ['segments.id'],
                                name=op.f('fk_memos_segment_id_segments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_memos')))
    op.create_index(op.f('ix_memos_project_id'), 'memos', ['project_id'])
    op.create_index(op.f('ix_memos_segment_id'), 'memos', ['segment_id'])
    # each person's latest review of each suggestion is their decision; its first, when made
    same = ("l.suggestion_id = r.suggestion_id AND l.reviewer_id = r.reviewer_id AND "
            f"{WHO.format(r='l', u='lu')} = {WHO.format(r='r', u='u')}")
    op.execute(sa.text(
        "INSERT INTO decisions (project_id, suggestion_id, reviewer_id, coder, status, code, "
        "review_id, created_at, decided_at) "
        f"SELECT r.project_id, r.suggestion_id, r.reviewer_id, {WHO.format(r='r', u='u')}, "
        "CASE r.action WHEN 'reject' THEN 'rejected' WHEN 'change' THEN 'changed' "
        "ELSE 'accepted' END, r.code, r.id, "
        f"(SELECT MIN(l.created_at) FROM reviews l JOIN users lu ON lu.id = l.reviewer_id "
        f"WHERE {same}), r.created_at "
        "FROM reviews r JOIN users u ON u.id = r.reviewer_id "
        f"WHERE r.id = (SELECT MAX(l.id) FROM reviews l JOIN users lu ON lu.id = l.reviewer_id "
        f"WHERE {same})"))


def downgrade() -> None:
    op.drop_index(op.f('ix_memos_segment_id'), table_name='memos')
    op.drop_index(op.f('ix_memos_project_id'), table_name='memos')
    op.drop_table('memos')
    op.drop_index(op.f('ix_coded_segments_segment_id'), table_name='coded_segments')
    op.drop_index(op.f('ix_coded_segments_project_id'), table_name='coded_segments')
    op.drop_table('coded_segments')
    op.drop_index(op.f('ix_decisions_reviewer_id'), table_name='decisions')
    op.drop_index(op.f('ix_decisions_suggestion_id'), table_name='decisions')
    op.drop_index(op.f('ix_decisions_project_id'), table_name='decisions')
    op.drop_table('decisions')
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_suggestions_consensus_by_users'),
                                 type_='foreignkey')
        batch_op.drop_column('consensus_at')
        batch_op.drop_column('consensus_by')
        batch_op.drop_column('consensus_code')
        batch_op.drop_column('consensus_status')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('blind')
