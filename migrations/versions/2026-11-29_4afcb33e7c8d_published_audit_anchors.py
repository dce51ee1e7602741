"""published audit anchors: the audit chain's head (sequence number and hash) published once a Beijing day

Revision ID: 4afcb33e7c8d
Revises: 84c12412740e
Create Date: 2026-11-29 13:30:11.474304

"""
import sqlalchemy as sa
from alembic import op

import portal.db

# revision identifiers, used by Alembic.
revision = '4afcb33e7c8d'
down_revision = '84c12412740e'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_anchors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('published_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_anchors')),
    sa.UniqueConstraint('day', name=op.f('uq_audit_anchors_day'))
    )


def downgrade():
    op.drop_table('audit_anchors')
