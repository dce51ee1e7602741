from datetime import UTC, datetime, timedelta

import pytest

from portal.accounts import rules


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110108551385082Q", "911100001000044477"])
def test_credit_code_accepts_published_codes(code):
    assert rules.credit_code_problem(code) is None


def test_credit_code_check_char_computed_from_first_17():
    assert rules.credit_code_check_char("91350100M000100Y4") == "3"


@pytest.mark.parametrize(("code", "problem"), [
    ("91350100M000100Y44", "check"),  # wrong check character
    ("91350100M000100Y4", "length"),  # 17 characters
    ("91350100M000100Y433", "length"),  # 19 characters
    ("", "length"),
    ("91350100M000100YI3", "charset"),  # I is not in the character set
    ("91350100m000100Y43", "charset"),  # lower case
    ("9135010OM000100Y43", "charset"),  # letter O
    ("91350100M000100Y4Z", "charset"),  # Z cannot be a check character
])
def test_credit_code_problems(code, problem):
    assert rules.credit_code_problem(code) == problem


def test_credit_code_check_char_zero_when_remainder_is_zero():
    # Find a prefix whose weighted sum is a multiple of 31: its check character must be "0".
    for n in range(10_000):
        first17 = f"5241010{n:08d}MJ"
        total = sum(rules.CREDIT_CODE_CHARSET.index(c) * w for c, w in zip(first17, rules.CREDIT_CODE_WEIGHTS,
                                                                                strict=True))
        if total % 31 == 0:
            assert rules.credit_code_check_char(first17) == "0"
            return
    pytest.fail("no prefix found")


@pytest.mark.parametrize(("password", "problems"), [
    ("Demo@2026", []),
    ("abc123", ["short"]),
    ("abcdefghij", ["mix"]),
    ("1234567890", ["mix"]),
    ("alice2026x", ["username"]),
])
def test_password_problems(password, problems):
    assert rules.password_problems(password, username="alice") == problems


def test_lockout_boundary():
    assert not rules.is_locked_out(4, 5)
    assert rules.is_locked_out(5, 5)
    now = datetime(2026, 11, 30, tzinfo=UTC)
    assert rules.lockout_since(now, 900) == now - timedelta(minutes=15)
