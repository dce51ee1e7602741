"""The officers' dashboard of figures (/dashboard/figures) and the public summary (/statistics).

Each figure is shown as a panel: a chart drawn by static/js/dashboard.js with the vendored Chart.js from the data in a
``<script type="application/json">`` block (the CSP allows no inline script), and beside it a table of the same
numbers, which is all a browser without JavaScript shows. The figures come from ``dashboard.py``; this module reads
the filters (a Beijing year, and for the city bureau's officers and admin a bureau) and lays the figures out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from portal.db import utcnow
from portal.permissions import Role, role_required
from portal.public import dashboard
from portal.public.figures_cache import public_figures
from portal.public.views import bp
from portal.urls import MAX_ID


@dataclass
class Choice:
    """The filters as read from the query string, with the messages of those that could not be used."""

    year: int | None = None
    bureau_id: int | None = None
    messages: list[str] = field(default_factory=list)


def _read_year(choice: Choice) -> None:
    value = (request.args.get("year") or "").strip()
    if not value:
        return
    if value.isdigit() and len(value) == 4 and dashboard.FIRST_YEAR <= int(value) <= dashboard.LAST_YEAR:
        choice.year = int(value)
    else:
        choice.messages.append(_("The year could not be used: choose one from the list (2000 to 2099). "
                                 "All years are shown."))


def _read_bureau(choice: Choice, bureaus: list[tuple[int, str]]) -> None:
    value = (request.args.get("bureau") or "").strip()
    if not value:
        return
    if value.isdigit() and 0 < int(value) <= MAX_ID and int(value) in {b for b, _name in bureaus}:
        choice.bureau_id = int(value)
    else:
        choice.messages.append(_("That bureau is not one whose figures you may see: choose one from the list. "
                                 "The figures of every bureau you oversee are shown."))


# --- Panels: a chart and its table ------------------------------------------------------------------------------------


@dataclass
class Panel:
    """One figure as shown: title, a note on what is counted, the table (cells are (kind, value): kind is "text",
    "count", "money", "percent" or "mean") and the chart's data for dashboard.js."""

    key: str
    title: str
    note: str
    headers: list[str]
    rows: list[list[tuple[str, object]]]
    chart: dict
    empty: bool


def _money(value) -> float:
    return float(value)  # for the chart only; the table shows the exact amount


def _chart(kind: str, labels, datasets, *, unit: str = "count", stacked: bool = False) -> dict:
    return {"type": kind, "labels": [str(label) for label in labels], "unit": unit, "stacked": stacked,
            "datasets": [{"label": str(name), "data": data} for name, data in datasets]}


def _spending_panel(key: str, title: str, heading: str, rows: list[dashboard.Spending], total) -> Panel:
    shown = [r for r in rows if r.contracts or r.paid]
    return Panel(
        key, title, _("Contracts signed (in force, completed or terminated): their amounts and what has been paid "
                      "on them so far."),
        [heading, _("Signed contracts (number)"), _("Contracted amount"), _("Paid")],
        [[("text", r.label), ("count", r.contracts), ("money", r.contracted), ("money", r.paid)] for r in rows]
        + [[("text", total.label), ("count", total.contracts), ("money", total.contracted), ("money", total.paid)]],
        _chart("bar", [r.label for r in shown], [(_("Contracted amount"), [_money(r.contracted) for r in shown]),
                                                 (_("Paid"), [_money(r.paid) for r in shown])], unit="money"),
        not total.contracts)


def _share_panel(key: str, title: str, note: str, heading: str, shares: list[dashboard.Share], total) -> Panel:
    return Panel(
        key, title, note,
        [heading, _("Signed contracts (number)"), _("Contracted amount"), _("Share of the contracts"),
         _("Share of the amount")],
        [[("text", s.label), ("count", s.contracts), ("money", s.amount), ("percent", s.count_percent),
          ("percent", s.amount_percent)] for s in shares],
        _chart("bar", [s.label for s in shares],
               [(_("Share of the amount"), [float(s.amount_percent or 0) for s in shares])], unit="percent"),
        not total.contracts)


def _bidder_panels(figures: dashboard.Figures) -> list[Panel]:
    rows, distribution = figures.bidders, figures.bidder_distribution
    empty = not any(r.tenders for r in rows)
    return [
        Panel("bidders", _("Bidders per tender"),
              _("Opened tenders (bids or first responses opened together): the suppliers with a valid bid, on "
                "average per tender."),
              [_("Method"), _("Opened tenders"), _("Valid bids"), _("Average bidders per tender")],
              [[("text", r.label), ("count", r.tenders), ("count", r.bids), ("mean", r.average)] for r in rows],
              _chart("bar", [r.label for r in rows],
                     [(_("Average bidders per tender"), [float(r.average or 0) for r in rows])], unit="mean"),
              empty),
        Panel("bidder-distribution", _("Opened tenders by number of bidders"),
              _("How many opened tenders had one, two, three, four, or five or more valid bidders."),
              [_("Number of bidders"), _("Opened tenders")],
              [[("text", bucket), ("count", count)] for bucket, count in distribution.items()],
              _chart("bar", list(distribution), [(_("Opened tenders"), list(distribution.values()))]),
              empty),
    ]


def _savings_panel(figures: dashboard.Figures) -> Panel:
    s = figures.savings
    return Panel(
        "savings", _("Savings against the budget"),
        _("The budgets of the tenders whose contracts were signed, against the contracted amounts."),
        [_("What is counted"), _("Amount")],
        [[("text", _("Budgets of the awarded tenders")), ("money", s.budget)],
         [("text", _("Contracted amounts")), ("money", s.contracted)],
         [("text", _("Saved (budget minus contracted)")), ("money", s.saved)],
         [("text", _("Savings rate")), ("percent", s.rate)]],
        _chart("bar", [_("Budgets of the awarded tenders"), _("Contracted amounts")],
               [(_("Amount"), [_money(s.budget), _money(s.contracted)])], unit="money"),
        not figures.total.contracts)


def _timeliness_panel(figures: dashboard.Figures) -> Panel:
    rows = figures.timeliness
    return Panel(
        "on-time", _("Notices and signing on time"),
        _("Counted in working days (工作日) with the portal's calendar. Late includes what is overdue and not yet "
          "done; what is not yet due, or falls in a year without a calendar, is not counted."),
        [_("Deadline counted"), _("On time"), _("Late"), _("Counted"), _("On time (share)"),
         _("Not yet due (not counted)"), _("No calendar")],
        [[("text", r.label), ("count", r.on_time), ("count", r.late), ("count", r.total),
          ("percent", r.on_time_percent), ("count", r.pending), ("count", r.unknown)] for r in rows],
        _chart("bar", [r.label for r in rows], [(_("On time"), [r.on_time for r in rows]),
                                                (_("Late"), [r.late for r in rows])], stacked=True),
        not any(r.total or r.pending or r.unknown for r in rows))


def _grades_panel(figures: dashboard.Figures) -> Panel:
    rows = figures.grades
    return Panel(
        "grades", _("Performance review grades"), _("Graded performance reviews (绩效评估) per grade."),
        [_("Grade"), _("Reviews"), _("Share")],
        [[("text", g.label), ("count", g.reviews), ("percent", g.share)] for g in rows],
        _chart("doughnut", [g.label for g in rows], [(_("Reviews"), [g.reviews for g in rows])]),
        not any(g.reviews for g in rows))


def panels(figures: dashboard.Figures) -> list[Panel]:
    """Every figure as a panel, in the order of issue 9."""
    total = figures.total
    return [
        _spending_panel("plan", _("Spending by plan"), _("Plan"), figures.by_plan, total),
        _spending_panel("bureau", _("Spending by district (buying bureau)"), _("Civil-affairs bureau"),
                        figures.by_bureau, total),
        _spending_panel("method", _("Spending by procurement method"), _("Method"), figures.by_method, total),
        _share_panel("reach", _("Funds reaching poor villages and remote areas"),
                     _("Signed contracts whose service project serves a poor village or a remote or less developed "
                       "area, as shares of all signed contracts."), _("Where the service goes"), figures.reach, total),
        *_bidder_panels(figures),
        _share_panel("single-source", _("Single-source share"),
                     _("Signed contracts procured by single source (单一来源) against those of the other methods."),
                     _("Method"), figures.single_source, total),
        _savings_panel(figures),
        _timeliness_panel(figures),
        _grades_panel(figures),
    ]


# --- Views -----------------------------------------------------------------------------------------------------------


@bp.get("/dashboard/figures")
@role_required(Role.OFFICER, Role.ADMIN)
def dashboard_figures():
    # The object rule is applied by the queries: only the bureaus the user oversees (contracts.services._bureau_ids).
    bureaus, choice = dashboard.bureaus_in_scope(current_user), Choice()
    _read_year(choice)
    _read_bureau(choice, bureaus)
    scope = dashboard.officer_scope(current_user, now=utcnow(), year=choice.year, bureau_id=choice.bureau_id)
    figures = dashboard.figures(scope)
    return render_template("public/dashboard.html", panels=panels(figures), choice=choice, bureaus=bureaus,
                           years=dashboard.years_with_data(scope))


@bp.get("/statistics")
def statistics():
    choice = Choice()
    _read_year(choice)
    kept = public_figures(choice.year, now=utcnow())
    return render_template("public/dashboard_public.html", panels=panels(kept.figures), choice=choice,
                           years=kept.years, computed_at=kept.computed_at)
