"""Views of the yearly assessment (年度考核): the year's list, an assessment with its figures and the records they came
from, and the city officer's changes (create the drafts, edit the indicators, refresh the figures, confirm).

Routes live on the assessment blueprint (views.py). City officers run it; administrators see it; a district bureau's
officers and an NGO's users see their own assessment once confirmed (``Assessment.can_view``).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from portal.assessment import yearly
from portal.assessment.models import ASSESSMENT_STATUS_LABELS, SUBJECT_LABELS, AssessmentStatus
from portal.assessment.views import bp, load_assessment, run
from portal.assessment.yearly_forms import CreateForm, IndicatorsForm
from portal.db import utcnow
from portal.forms import ActionForm
from portal.permissions import Role, ensure, role_required
from portal.reviews.models import GRADE_LABELS
from portal.reviews.rubrics import points_text
from portal.reviews.rules import Grade
from portal.tenders.rules import local_date
from portal.urls import safe_next

YEARS_SHOWN = 5  # the years offered: this one and the four before
STATUS_BADGES = {AssessmentStatus.DRAFT: "draft", AssessmentStatus.CONFIRMED: "completed"}
GRADE_BADGES = {Grade.EXCELLENT: "approved", Grade.GOOD: "approved", Grade.PASS: "approved", Grade.FAIL: "failed"}
LABELS = {"subject_labels": SUBJECT_LABELS, "status_labels": ASSESSMENT_STATUS_LABELS, "grade_labels": GRADE_LABELS,
          "status_badges": STATUS_BADGES, "grade_badges": GRADE_BADGES, "grades": list(Grade)}

bp.add_app_template_filter(points_text, "assessment_points")  # 20, 12.5, 86.25


def _render(page: str, status: int = 200, **context):
    return render_template(f"assessment/{page}", **LABELS, **context), status


def _years() -> list[int]:
    this_year = local_date(utcnow()).year
    return list(range(this_year, this_year - YEARS_SHOWN, -1))


def _year_arg() -> int:
    year = request.args.get("year", type=int)
    return year if year in _years() else _years()[0]


def _detail(assessment_id: int) -> str:
    return url_for("assessment.yearly_detail", assessment_id=assessment_id)


def _index(year: int) -> str:
    return url_for("assessment.yearly_index", year=year)


def _rows(assessment) -> list[dict]:
    """Each indicator with its records as links (paths on this site only) and what it adds to the score."""
    return [{"indicator": i, "weighted": yearly.weighted_points(i),
             "sources": [(label, safe_next(path)) for label, path in yearly.sources_of(i)]}
            for i in assessment.indicators]


def _index_page(year: int, form=None, status: int = 200):
    assessments = yearly.assessments_for(current_user, year)
    counts = {s: sum(1 for a in assessments if a.status == s) for s in AssessmentStatus}
    grades = {g: sum(1 for a in assessments if a.grade == g) for g in Grade}
    if form is None and yearly.can_run(current_user):
        form = CreateForm(formdata=None, year=year)
    if form is not None:
        form.set_years(_years())
    return _render("yearly_index.html", status, year=year, years=_years(), assessments=assessments,
                   counts=counts, grade_counts=grades, create_form=form, runs=yearly.can_run(current_user))


@bp.get("/yearly")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def yearly_index():
    return _index_page(_year_arg())


@bp.post("/yearly/create")
@role_required(Role.OFFICER)
def yearly_create():
    ensure(yearly.can_run(current_user))
    form = CreateForm()
    form.set_years(_years())
    if not form.validate_on_submit():
        return _index_page(_year_arg(), form, 400)
    year, made = form.year.data, []
    done = run(lambda: made.extend(yearly.create_assessments(current_user.organisation, year, actor=current_user,
                                                             now=utcnow())),
               lambda: ngettext("%(num)s draft assessment of %(year)s was created.",
                                "%(num)s draft assessments of %(year)s were created.", len(made), year=year)
               if made else _("Every subject of %(year)s already has its assessment: none was created.", year=year),
               _index(year))
    return done or _index_page(year, form, 422)


def _detail_page(assessment, status: int = 200):
    manage = assessment.can_manage(current_user) and assessment.status == AssessmentStatus.DRAFT
    return _render("yearly_detail.html", status, assessment=assessment, rows=_rows(assessment),
                   weight_total=yearly.weight_total(assessment), manage=manage,
                   problems=yearly.problems(assessment) if assessment.status == AssessmentStatus.DRAFT else [],
                   provisional=yearly.provisional(assessment) if assessment.status == AssessmentStatus.DRAFT
                   else None, action_form=ActionForm() if manage else None)


@bp.get("/yearly/<int:assessment_id>")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def yearly_detail(assessment_id):
    assessment = load_assessment(assessment_id)
    ensure(assessment.can_view(current_user))
    return _detail_page(assessment)


@bp.route("/yearly/<int:assessment_id>/edit", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def yearly_edit(assessment_id):
    assessment = load_assessment(assessment_id)
    ensure(assessment.can_manage(current_user))
    if assessment.status != AssessmentStatus.DRAFT:
        flash(_("A confirmed assessment is frozen: it cannot change."), "warning")
        return redirect(_detail(assessment_id))
    form = IndicatorsForm()
    status = 200
    if form.validate_on_submit():
        done = run(lambda: yearly.update_indicators(assessment, form.row_values(), actor=current_user, now=utcnow()),
                   _("The indicators are saved."), _detail(assessment_id))
        if done is not None:
            return done
        status = 422
    elif request.method == "POST":
        status = 400
    else:
        form.fill(assessment.indicators)
    return _render("yearly_form.html", status, assessment=assessment, form=form,
                   indicators={i.id: i for i in assessment.indicators})


@bp.post("/yearly/<int:assessment_id>/refresh")
@role_required(Role.OFFICER)
def yearly_refresh(assessment_id):
    assessment = load_assessment(assessment_id)
    ensure(assessment.can_manage(current_user))
    if not ActionForm().validate_on_submit():
        flash(_("The form could not be sent (it may have expired): reload the page and try again."), "danger")
        return _detail_page(assessment, 400)
    return run(lambda: yearly.refresh(assessment, actor=current_user, now=utcnow()),
               _("The figures are computed afresh from the records."),
               _detail(assessment_id)) or redirect(_detail(assessment_id))


@bp.post("/yearly/<int:assessment_id>/confirm")
@role_required(Role.OFFICER)
def yearly_confirm(assessment_id):
    assessment = load_assessment(assessment_id)
    ensure(assessment.can_manage(current_user))
    if not ActionForm().validate_on_submit():
        flash(_("The form could not be sent (it may have expired): reload the page and try again."), "danger")
        return _detail_page(assessment, 400)
    return run(lambda: yearly.confirm(assessment, actor=current_user, now=utcnow()),
               lambda: _("The assessment is confirmed: %(score)s points, %(grade)s.", score=assessment.score,
                         grade=GRADE_LABELS[assessment.grade]),
               _detail(assessment_id)) or redirect(_detail(assessment_id))
