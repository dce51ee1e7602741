"""The yearly assessment of bureaus and NGOs, commendations with their 公示, and the funding-tilt allocation plan
(issue 8)."""

from decimal import Decimal


def _setting_number(setting: str, key: str, value: str) -> Decimal:
    """A finite decimal, or a ValueError naming the setting and the key."""
    try:
        number = Decimal(value.strip())
    except ArithmeticError:
        raise ValueError(f"{setting}: {key!r} needs a number, not {value.strip()!r}") from None
    if not number.is_finite():
        raise ValueError(f"{setting}: {key!r} needs a finite number, not {value.strip()!r}")
    return number


def _tilts(text: str):
    """PORTAL_FUNDING_TILTS: "poor_village=0.30,remote_area=0.20,..." over the defaults of issue 8. The poor-village,
    remote-area and households tilts are shares >= 0; a district grade's tilt is between -1 and 1."""
    from portal.assessment.rules import DEFAULT_TILTS, TiltSettings
    from portal.reviews.rules import Grade

    setting = "PORTAL_FUNDING_TILTS"
    values = {"poor_village": DEFAULT_TILTS.poor_village, "remote_area": DEFAULT_TILTS.remote_area,
              "per_hundred_households": DEFAULT_TILTS.per_hundred_households,
              "households_cap": DEFAULT_TILTS.households_cap}
    district = dict(DEFAULT_TILTS.district)
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, equals, value = item.partition("=")
        key = key.strip()
        if not equals:
            raise ValueError(f"{setting}: {key!r} needs a value (key=number)")
        if key in values:
            share = _setting_number(setting, key, value)
            if share < 0:
                raise ValueError(f"{setting}: {key!r} cannot be negative ({share})")
            values[key] = share
        elif key in {g.value for g in Grade}:
            share = _setting_number(setting, key, value)
            if not -1 <= share <= 1:
                raise ValueError(f"{setting}: {key!r} is a share between -1 and 1, not {share}")
            district[Grade(key)] = share
        else:
            raise ValueError(f"unknown funding tilt {key!r} in {setting}")
    return TiltSettings(district=district, **values)


def _rewards(text: str) -> dict:
    """PORTAL_REWARD_GRANTS: "first=50000,second=30000,third=10000" (whole yuan per commendation level)."""
    from portal.assessment.models import Level

    setting = "PORTAL_REWARD_GRANTS"
    grants = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, equals, value = item.partition("=")
        key = key.strip()
        if key not in {level.value for level in Level}:
            raise ValueError(f"unknown commendation level {key!r} in {setting}")
        if not equals:
            raise ValueError(f"{setting}: {key!r} needs a value (key=yuan)")
        amount = _setting_number(setting, key, value)
        if amount < 0 or amount != amount.to_integral_value():
            raise ValueError(f"{setting}: {key!r} needs a whole, non-negative yuan amount, not {value.strip()!r}")
        grants[Level(key)] = amount
    if set(grants) != set(Level):
        raise ValueError(f"{setting} needs a whole, non-negative yuan amount for first, second and third")
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
