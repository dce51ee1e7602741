"""frozen funding tilts and comment ip: an approved plan keeps the tilt labels, shares, totals, weights and the
settings wording it was approved with; public comments keep the client address (throttling)

Revision ID: 84c12412740e
Revises: cb7c41c319ce
Create Date: 2026-11-29 13:11:24.931691

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '84c12412740e'
down_revision = 'cb7c41c319ce'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('commendation_comments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ip', sa.String(length=45), server_default='', nullable=False))

    with op.batch_alter_table('funding_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('frozen_tilts', sa.Text(), server_default='', nullable=False))

    with op.batch_alter_table('funding_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('frozen_settings', sa.Text(), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('funding_plans', schema=None) as batch_op:
        batch_op.drop_column('frozen_settings')

    with op.batch_alter_table('funding_lines', schema=None) as batch_op:
        batch_op.drop_column('frozen_tilts')

    with op.batch_alter_table('commendation_comments', schema=None) as batch_op:
        batch_op.drop_column('ip')
