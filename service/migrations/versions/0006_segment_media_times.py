"""segment media times: a subtitle segment keeps its start and end in the media (seconds)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_start', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('time_end', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('segments', schema=None) as batch_op:
        batch_op.drop_column('time_end')
        batch_op.drop_column('time_start')
