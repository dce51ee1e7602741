import sqlalchemy as sa

from portal.accounts.models import ExpertProfile, Organisation, User
from portal.accounts.rules import credit_code_problem
from portal.accounts.services import check_password
from portal.extensions import db
from portal.seed import DEMO_PASSWORD


def _counts():
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in (Organisation, User))


def test_seed_demo_twice_changes_nothing(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "Demo@2026" in first.output
    counts = _counts()
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0
    assert "(0 records created)" in second.output
    assert _counts() == counts


def test_seed_demo_content(app):
    app.test_cli_runner().invoke(args=["seed-demo"])
    city = db.session.scalar(sa.select(Organisation).where(Organisation.name == "郑州市民政局"))
    assert city.is_city_bureau and len(city.children) >= 5
    ngos = db.session.scalars(sa.select(Organisation).where(Organisation.kind == "supplier")).all()
    assert len(ngos) >= 6
    assert all(credit_code_problem(o.credit_code) is None for o in ngos)
    assert len({o.rating for o in ngos}) >= 3
    experts = db.session.scalar(sa.select(sa.func.count()).select_from(ExpertProfile))
    assert experts >= 9
    names = set(db.session.scalars(sa.select(User.username)))
    expected = {"admin", "officer", "officer2", "district_officer", "ngo1", "ngo2", "ngo3"}
    assert expected | {f"expert{i}" for i in range(1, 8)} <= names
    admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
    assert check_password(admin, DEMO_PASSWORD)
    district = db.session.scalar(sa.select(User).where(User.username == "district_officer"))
    assert district.organisation.parent_id == city.id


def test_seed_demo_refused_in_production(app):
    app.config["PORTAL_ENV"] = "production"
    try:
        result = app.test_cli_runner().invoke(args=["seed-demo"])
    finally:
        app.config["PORTAL_ENV"] = "testing"
    assert result.exit_code == 1
    assert "production" in result.output
    assert _counts() == (0, 0)


def test_seed_demo_procurement_stages(app):
    from portal.sealing import SealingKey
    from portal.tenders.models import Bid, Tender

    app.test_cli_runner().invoke(args=["seed-demo"])
    by_method_status = {(t.method, t.status) for t in db.session.scalars(sa.select(Tender))}
    assert {("open", "draft"), ("open", "published"), ("invited", "published"), ("open", "opened"),
            ("open", "failed"), ("single_source", "published"), ("negotiation", "published")} <= by_method_status
    # Bids on tenders still taking bids stay sealed: no opened price, no authorised key.
    sealed = db.session.scalars(sa.select(Bid).join(Tender).where(Tender.status == "published")).all()
    assert sealed and all(b.opened_price is None for b in sealed)
    authorised = db.session.scalars(sa.select(SealingKey.scope).where(SealingKey.opening_authorised_at.is_not(None)))
    opened = db.session.scalar(sa.select(Tender).where(Tender.status == "opened"))
    assert list(authorised) == [opened.sealing_scope]
    assert all(b.opened_price is not None for b in opened.bids)
