"""indexes for public order and signing year: tenders by (published_at, id) for the OCDS pages, contracts by
signed_at for the dashboards' year filter

Revision ID: f3543e5efb6f
Revises: 4afcb33e7c8d
Create Date: 2026-11-29 16:05:12.110828

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f3543e5efb6f'
down_revision = '4afcb33e7c8d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contracts_signed_at'), ['signed_at'], unique=False)

    with op.batch_alter_table('tenders', schema=None) as batch_op:
        batch_op.create_index('ix_tenders_published_order', ['published_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('tenders', schema=None) as batch_op:
        batch_op.drop_index('ix_tenders_published_order')

    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contracts_signed_at'))
