"""Pure rules for accounts and organisations: credit codes, passwords, lockout."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

# GB 32100-2015 统一社会信用代码: 18 characters from this 31-character set (no I, O, Z, S, V);
# the 18th is a check character computed from the first 17 with these weights (modulus 31).
CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
CREDIT_CODE_LENGTH = 18

PASSWORD_MIN_LENGTH = 8
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")


def credit_code_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a credit code."""
    total = sum(CREDIT_CODE_CHARSET.index(ch) * w for ch, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """None for a valid 统一社会信用代码, else a short machine reason: length, charset or check."""
    if len(code) != CREDIT_CODE_LENGTH:
        return "length"
    if any(ch not in CREDIT_CODE_CHARSET for ch in code):
        return "charset"
    if credit_code_check_char(code[:17]) != code[17]:
        return "check"
    return None


def password_problems(password: str, *, username: str = "") -> list[str]:
    """Reasons a new password is too weak (empty when it is acceptable)."""
    problems = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append("short")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        problems.append("mix")
    if username and username.lower() in password.lower():
        problems.append("username")
    return problems


def lockout_since(now: datetime, window_seconds: int) -> datetime:
    """The start of the window in which failed logins are counted."""
    return now - timedelta(seconds=window_seconds)


def is_locked_out(recent_failures: int, max_failures: int) -> bool:
    """After ``max_failures`` failures in the window, further tries are refused."""
    return recent_failures >= max_failures
