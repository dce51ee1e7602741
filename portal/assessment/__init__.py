"""The yearly assessment of bureaus and NGOs, commendations with their 公示, and the funding-tilt allocation plan
(issue 8)."""

from decimal import Decimal


def _tilts(text: str):
    """PORTAL_FUNDING_TILTS: "poor_village=0.30,remote_area=0.20,..." over the defaults of issue 8."""
    from portal.assessment.rules import DEFAULT_TILTS, TiltSettings
    from portal.reviews.rules import Grade

    values = {"poor_village": DEFAULT_TILTS.poor_village, "remote_area": DEFAULT_TILTS.remote_area,
              "per_hundred_households": DEFAULT_TILTS.per_hundred_households,
              "households_cap": DEFAULT_TILTS.households_cap}
    district = dict(DEFAULT_TILTS.district)
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, _, value = item.partition("=")
        key, share = key.strip(), Decimal(value.strip())
        if key in values:
            values[key] = share
        elif key in {g.value for g in Grade}:
            district[Grade(key)] = share
        else:
            raise ValueError(f"unknown funding tilt {key!r} in PORTAL_FUNDING_TILTS")
    return TiltSettings(district=district, **values)


def _rewards(text: str) -> dict:
    """PORTAL_REWARD_GRANTS: "first=50000,second=30000,third=10000" (whole yuan per commendation level)."""
    from portal.assessment.models import Level

    grants = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, _, value = item.partition("=")
        grants[Level(key.strip())] = Decimal(value.strip())
    if set(grants) != set(Level) or any(v < 0 or v != v.to_integral_value() for v in grants.values()):
        raise ValueError("PORTAL_REWARD_GRANTS needs a whole, non-negative yuan amount for first, second and third")
    return grants


def init_app(app):
    from portal.assessment.rules import TiltSettings

    # Settings are parsed once at start: a bad value stops the start, not a plan.
    tilts = app.config.get("FUNDING_TILTS", "")
    app.config["FUNDING_TILTS"] = tilts if isinstance(tilts, TiltSettings) else _tilts(tilts)
    rewards = app.config.get("REWARD_GRANTS", "first=50000,second=30000,third=10000")
    app.config["REWARD_GRANTS"] = rewards if isinstance(rewards, dict) else _rewards(rewards)

    # The models are registered before the views; the view modules add their routes to views.bp.
    from portal.assessment import commendation_views, funding_views, models, views, yearly_views  # noqa: F401

    app.register_blueprint(views.bp)
