"""commendations and grades are never bid points: the banned factor type 'commendation' of tender criteria

Revision ID: cb7c41c319ce
Revises: 33e14719c3d1
Create Date: 2026-11-29 12:35:46.922138

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'cb7c41c319ce'
down_revision = '33e14719c3d1'
branch_labels = None
depends_on = None

FACTORS = ('service_plan', 'team', 'experience', 'management', 'resources', 'other', 'regional_award', 'size',
           'qualification')


def _factor_check(factors) -> str:
    return "factor_type IN ({})".format(", ".join(f"'{f}'" for f in factors))


def upgrade():
    # The enum FactorType gains COMMENDATION (RULES-CN B; issue 8): the one_of check of the column follows. No row can
    # hold it (the compliance check refuses it), but the schema keeps to the model's list.
    with op.batch_alter_table('tender_criteria', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_tender_criteria_factor_type'), type_='check')
        batch_op.create_check_constraint(op.f('ck_tender_criteria_factor_type'),
                                         _factor_check((*FACTORS, 'commendation')))


def downgrade():
    # A criterion of that type was refused by every version; should one exist, it becomes the banned 'regional_award'
    # it was refused under before this revision.
    op.execute("UPDATE tender_criteria SET factor_type = 'regional_award' WHERE factor_type = 'commendation'")
    with op.batch_alter_table('tender_criteria', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_tender_criteria_factor_type'), type_='check')
        batch_op.create_check_constraint(op.f('ck_tender_criteria_factor_type'), _factor_check(FACTORS))
