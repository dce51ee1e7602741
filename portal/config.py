"""Settings, read from the environment.

Development keeps its generated secrets and the SQLite database in ``instance/``;
production (PORTAL_ENV=production) refuses to start without real secrets.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"


class ConfigError(RuntimeError):
    """The portal cannot start with the configuration it was given."""


def _instance_secret(instance: Path, name: str, nbytes: int = 32) -> str:
    """A development secret created once in instance/ and reused afterwards."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / name
    if not path.exists():
        path.write_text(secrets.token_hex(nbytes))
        path.chmod(0o600)
    return path.read_text().strip()


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgres:// URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _abnormally_low_default() -> Decimal:
    from portal.evaluation.rules import ABNORMALLY_LOW_THRESHOLD  # imported late: the rules import the models

    return ABNORMALLY_LOW_THRESHOLD


def _justification_hours_default() -> int:
    from portal.evaluation.rules import LOW_PRICE_JUSTIFICATION_HOURS  # imported late, as above

    return LOW_PRICE_JUSTIFICATION_HOURS


def load_config(overrides: dict | None = None) -> dict:
    """Build the settings mapping from the environment, then apply the test mapping."""
    env = os.environ
    overrides = dict(overrides or {})
    portal_env = overrides.get("PORTAL_ENV") or env.get("PORTAL_ENV", "development")
    production = portal_env == "production"
    instance = Path(overrides.get("INSTANCE_PATH") or env.get("PORTAL_INSTANCE", DEFAULT_INSTANCE))

    def secret(name: str, file_name: str) -> str:
        value = overrides.get(name) or env.get(name)
        if value:
            return value
        if production:
            raise ConfigError(f"{name} must be set in the environment in production")
        return _instance_secret(instance, file_name)

    https = _flag(env.get("PORTAL_HTTPS"))
    config = {
        "PORTAL_ENV": portal_env,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": secret("SECRET_KEY", "secret_key"),
        "PORTAL_SEALING_KEY": secret("PORTAL_SEALING_KEY", "sealing_key"),
        "PORTAL_AUDIT_KEY": secret("PORTAL_AUDIT_KEY", "audit_key"),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(
            env.get("DATABASE_URL") or f"sqlite:///{instance / 'portal.db'}"
        ),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": https,
        "PORTAL_HTTPS": https,
        "PERMANENT_SESSION_LIFETIME": int(env.get("PORTAL_SESSION_SECONDS", 8 * 3600)),
        "REMEMBER_COOKIE_DURATION": 0,
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "portal" / "translations"),
        "PORTAL_LANGUAGES": ("zh", "en"),
        "PORTAL_TIMEZONE": "Asia/Shanghai",
        "MAX_CONTENT_LENGTH": int(env.get("PORTAL_MAX_UPLOAD_MB", 50)) * 1024 * 1024,
        "UPLOAD_FOLDER": env.get("PORTAL_UPLOAD_FOLDER", str(instance / "uploads")),
        "MAIL_SERVER": env.get("SMTP_HOST", "localhost"),
        "MAIL_PORT": int(env.get("SMTP_PORT", 25)),
        "MAIL_USERNAME": env.get("SMTP_USER", ""),
        "MAIL_PASSWORD": env.get("SMTP_PASSWORD", ""),
        "MAIL_USE_TLS": _flag(env.get("SMTP_STARTTLS")),
        "MAIL_SENDER": env.get("SMTP_SENDER", "portal@localhost"),
        "MAIL_ENABLED": _flag(env.get("SMTP_ENABLED", "1" if env.get("SMTP_HOST") else "0")),
        # Send right after the commit (within the request); off leaves all sending to the scheduler.
        "MAIL_SEND_AFTER_COMMIT": _flag(env.get("SMTP_SEND_AFTER_COMMIT", "1")),
        "MAIL_MAX_ATTEMPTS": int(env.get("SMTP_MAX_ATTEMPTS", 12)),
        # Absolute links in e-mails (e.g. https://portal.mca.example.cn); empty leaves links out.
        "PORTAL_BASE_URL": env.get("PORTAL_BASE_URL", "").rstrip("/"),
        # OCDS open data: the ocid prefix (registered "ocds-xxxxxx-" in production); ocid = prefix + tender reference.
        "OCDS_PREFIX": env.get("PORTAL_OCDS_PREFIX", "ocds-portal-"),
        # Login lockout: this many failures for one account or one address within the window.
        "LOGIN_MAX_FAILURES": int(env.get("PORTAL_LOGIN_MAX_FAILURES", 5)),
        "LOGIN_FAILURE_WINDOW_SECONDS": int(env.get("PORTAL_LOGIN_WINDOW_SECONDS", 15 * 60)),
        # Extra modules whose JOBS the scheduler runs besides each feature's jobs.py (tests use it).
        "SCHEDULER_EXTRA_JOB_MODULES": [
            name.strip() for name in env.get("PORTAL_SCHEDULER_EXTRA_JOBS", "").split(",") if name.strip()
        ],
        # The public summary (/statistics) is computed at most once per this many seconds per worker process
        # (portal/public/figures_cache.py); 0 computes it at every request.
        "PUBLIC_FIGURES_CACHE_SECONDS": int(env.get("PORTAL_PUBLIC_FIGURES_CACHE_SECONDS", 300)),
        # RULES-CN A.1: 公开招标数额标准 (国办发〔2019〕55号: 2,000,000 yuan for services).
        "OPEN_TENDER_THRESHOLD": Decimal(env.get("PORTAL_OPEN_TENDER_THRESHOLD", "2000000")),
        # RULES-CN E.25 (87-60): the law sets no trigger for an abnormally low price; a bid this share or more
        # below the mean of the other valid bids must be justified in writing (default 0.20, the 20%).
        "ABNORMALLY_LOW_THRESHOLD": Decimal(env.get("PORTAL_ABNORMALLY_LOW_THRESHOLD",
                                                    str(_abnormally_low_default()))),
        # RULES-CN E.25 (87-60): the justification is asked for on the site within a reasonable time; the law
        # sets no number, so the hours a bidder gets to justify its price in writing are a setting (default 24).
        "LOW_PRICE_JUSTIFICATION_HOURS": int(env.get("PORTAL_LOW_PRICE_JUSTIFICATION_HOURS",
                                                     _justification_hours_default())),
        # RULES-CN I.40: review grade bands, the lowest score of 优秀, 良好 and 合格 (default "90,80,60"); below the
        # last is 不合格. The same bands grade the yearly assessment.
        "REVIEW_GRADE_BANDS": env.get("PORTAL_REVIEW_GRADE_BANDS", "90,80,60"),
        # Issue 8: the funding tilts over the defaults (poor village +30%, remote area +20%, +5% per 100 poor
        # households up to +25%, district graded 优秀 +15%, 良好 +5%, 不合格 -10%), e.g. "poor_village=0.35,fail=-0.2".
        "FUNDING_TILTS": env.get("PORTAL_FUNDING_TILTS", ""),
        # Issue 8: the reward grant (奖补) per commendation level, whole yuan (a house default; the bureau sets it).
        "REWARD_GRANTS": env.get("PORTAL_REWARD_GRANTS", "first=50000,second=30000,third=10000"),
    }
    config.update(overrides)
    if production and config["SECRET_KEY"] in {"", "dev"}:
        raise ConfigError("SECRET_KEY must be a real secret in production")
    return config
