"""idempotency keys: a retried review is recorded once

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'idempotency_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('suggestion_id', sa.Integer(), nullable=False),
        sa.Column('review_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_idempotency_keys_user_id_users')),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'],
                                name=op.f('fk_idempotency_keys_project_id_projects')),
        sa.ForeignKeyConstraint(['suggestion_id'], ['suggestions.id'],
                                name=op.f('fk_idempotency_keys_suggestion_id_suggestions')),
        sa.ForeignKeyConstraint(['review_id'], ['reviews.id'],
                                name=op.f('fk_idempotency_keys_review_id_reviews')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
        sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotency_keys_user_id')),
    )
    op.create_index(op.f('ix_idempotency_keys_project_id'), 'idempotency_keys', ['project_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_idempotency_keys_project_id'), table_name='idempotency_keys')
    op.drop_table('idempotency_keys')
