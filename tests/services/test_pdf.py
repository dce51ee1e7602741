import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from portal.db import utcnow
from portal.extensions import db
from portal.pdf import (
    GeneratedDocument,
    ResourceRefused,
    StaticOnlyFetcher,
    content_hash,
    issue_document,
    render_pdf,
    rmb_upper,
)


def pdftotext(data: bytes, tmp_path: Path) -> str:
    source = tmp_path / "doc.pdf"
    source.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True,
                          text=True).stdout


def page_count(data: bytes, tmp_path: Path) -> int:
    source = tmp_path / "count.pdf"
    source.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(source)], check=True, capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def contract_context() -> dict:
    clauses = [f"第{i}条 乙方应当按照服务方案为困难老年人提供上门探访、心理疏导和个案管理服务，并按月报送服务记录。" * 3
               for i in range(1, 31)]
    return {
        "issuer": "郑州市民政局",
        "title": "政府购买社会工作服务合同",
        "lead": "甲方：郑州市民政局　乙方：郑州市中原区阳光社会工作服务中心",
        "sections": [
            {"heading": "一、服务内容", "paragraphs": clauses[:15]},
            {"heading": "二、合同金额", "paragraphs": ["本合同总金额如下。"], "amount": Decimal("123456.78")},
            {"heading": "三、付款安排", "columns": ["期次", "比例", "条件"],
             "rows": [["第一期", "30%", "合同签订"], ["第二期", "40%", "中期评估合格"], ["第三期", "30%", "验收合格"]]},
            {"heading": "四、违约责任", "paragraphs": clauses[15:]},
        ],
        "signatures": ["甲方（盖章）", "乙方（盖章）"],
    }


def test_rmb_upper():
    assert rmb_upper(Decimal("123456.78")) == "人民币壹拾贰万叁仟肆佰伍拾陆元柒角捌分"
    assert rmb_upper(Decimal("1000000")) == "人民币壹佰万元整"
    assert rmb_upper("0.05") == "人民币伍分"


def test_three_page_chinese_contract_renders_with_text_and_capital_amount(tmp_path):
    data = render_pdf("document.html", contract_context(), number="HT-2026-00001")
    assert data.startswith(b"%PDF-")
    assert page_count(data, tmp_path) >= 3
    text = pdftotext(data, tmp_path)
    assert "政府购买社会工作服务合同" in text
    assert "郑州市中原区阳光社会工作服务中心" in text
    assert "人民币壹拾贰万叁仟肆佰伍拾陆元柒角捌分" in text
    assert "HT-2026-00001" in text
    assert content_hash("document.html", contract_context()) in text.replace("\n", "").replace(" ", "")


def test_font_is_the_simplified_chinese_cjk_font(tmp_path):
    data = render_pdf("document.html", contract_context())
    source = tmp_path / "fonts.pdf"
    source.write_bytes(data)
    fonts = subprocess.run(["pdffonts", str(source)], check=True, capture_output=True, text=True).stdout
    assert "Noto-Sans-CJK-SC" in fonts  # the SC variant, chosen by lang="zh-CN"
    assert "Noto-Sans-CJK-JP" not in fonts


def test_context_must_be_plain_data(create_user):
    user = create_user("admin")
    with pytest.raises(TypeError, match="plain data"):
        render_pdf("document.html", {"title": "x", "sections": [], "user": user})


def test_fetcher_serves_static_only(app, tmp_path):
    fetcher = StaticOnlyFetcher(Path(app.static_folder))
    inside = Path(app.static_folder, "css", "portal.css").resolve()
    response = fetcher.fetch(inside.as_uri())
    assert response is not None
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    for url in [outside.as_uri(), "file:///etc/passwd", "http://127.0.0.1:9/x.css", "https://example.com/a.png",
                inside.as_uri().replace("/css/portal.css", "/../pyproject.toml")]:
        with pytest.raises(ResourceRefused):
            fetcher.fetch(url)


def test_remote_image_is_not_fetched_when_rendering(app, tmp_path, monkeypatch, caplog):
    calls = []
    original = StaticOnlyFetcher.fetch

    def spy(self, url, headers=None):
        calls.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(StaticOnlyFetcher, "fetch", spy)
    context = contract_context() | {"title": '<img src="http://127.0.0.1:9/track.png">'}
    data = render_pdf("document.html", context)
    assert data.startswith(b"%PDF-")
    assert calls == []  # the title is escaped text, nothing is fetched


def test_document_is_stored_once_and_not_rendered_again(monkeypatch):
    now = utcnow()
    first = issue_document("test:contract:1", "document.html", contract_context(), prefix="HT", now=now)
    db.session.commit()
    assert first.number == f"HT-{now.year}-00001"
    stored = first.file.read_bytes()
    assert first.file.sha256 and first.file.size == len(stored)

    def explode(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr("portal.pdf.render_pdf", explode)
    again = issue_document("test:contract:1", "document.html", contract_context(), prefix="HT", now=now)
    assert again.id == first.id and again.file.read_bytes() == stored
    assert db.session.query(GeneratedDocument).count() == 1


def test_css_content_keeps_counters_and_escapes_text():
    from portal.pdf import css_content, css_string

    assert css_content("第 %(page)s 页，共 %(pages)s 页", {"page": "counter(page)", "pages": "counter(pages)"}) == (
        '"第 " counter(page) " 页，共 " counter(pages) " 页"')
    assert css_string('a"b\\c</style>') == '"a\\"b\\\\c\\3C /style>"'


def test_page_numbers_and_document_number_in_english(tmp_path):
    data = render_pdf("document.html", contract_context(), number="HT-2026-00002", locale="en")
    text = pdftotext(data, tmp_path)
    assert "No. HT-2026-00002" in text
    assert "Page 1 of" in text
