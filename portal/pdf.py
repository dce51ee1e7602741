"""PDF documents rendered by WeasyPrint from plain dicts, stored once and served from storage.

``render_pdf(template, context)`` turns a Jinja template under ``templates/pdf/`` into an A4
PDF with the bureau's header, a document number, page numbers and a footer carrying the
SHA-256 of the document's content. Chinese text uses Noto Sans CJK SC (installed by the
Makefile; ``lang="zh-CN"`` picks the Simplified Chinese glyphs). Resources load only from
``static/``: remote URLs and other files are refused. ``issue_document`` renders a document
once, stores it and returns the stored copy ever after.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import cn2an
import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.orm import Mapped, mapped_column, relationship
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from portal.db import UTCDateTime, utcnow
from portal.extensions import db
from portal.files import PDF, StoredFile, store_bytes

BEIJING = ZoneInfo("Asia/Shanghai")
PLAIN_TYPES = (str, int, bool, Decimal, date, datetime, type(None))


class GeneratedDocument(db.Model):
    __tablename__ = "generated_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200), nullable=False, unique=True)
    number: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    template: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    content_sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_files.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    file: Mapped[StoredFile] = relationship()


class ResourceRefused(ValueError):
    """A PDF template asked for something outside static/."""


class StaticOnlyFetcher(URLFetcher):
    """Fetch only files inside the static folder (and inline data: URLs); refuse everything else."""

    def __init__(self, static_root: Path):
        super().__init__(allowed_protocols={"file", "data"}, allow_redirects=False)
        self.static_root = static_root.resolve()

    def fetch(self, url, headers=None):
        parts = urlsplit(url)
        if parts.scheme == "data":
            return super().fetch(url, headers)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise ResourceRefused(f"refused to fetch {url}")
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self.static_root) or not path.is_file():
            raise ResourceRefused(f"refused to fetch {url}")
        return super().fetch(path.as_uri(), headers)


def static_root() -> Path:
    return Path(current_app.static_folder)


def rmb_upper(amount: Decimal | str | int) -> str:
    """The amount in capital Chinese numerals: 人民币壹拾贰万叁仟肆佰伍拾陆元柒角捌分."""
    value = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if value < 0:
        return "人民币负" + cn2an.an2cn(str(-value), "rmb")
    return "人民币" + cn2an.an2cn(str(value), "rmb")


def _check_plain(value, where: str = "context") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has a non-string key {key!r}")
            _check_plain(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
    elif not isinstance(value, PLAIN_TYPES):
        raise TypeError(f"{where} is a {type(value).__name__}; PDFs are rendered from plain data only")


def _canonical(value):
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, Decimal | date | datetime):
        return str(value)
    return value


def content_hash(template: str, context: dict) -> str:
    """SHA-256 over the template name and the canonical context: what the document says."""
    payload = json.dumps({"template": template, "context": _canonical(context)}, ensure_ascii=False,
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def css_string(text: str) -> str:
    """A quoted CSS string (for ``content:`` in page-margin boxes)."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("<", "\\3C ")
    return f'"{escaped}"'


def css_content(text: str, counters: dict[str, str]) -> str:
    """Turn a translated text with %(name)s placeholders into CSS content with counters.

    ``css_content("第 %(page)s 页", {"page": "counter(page)"})`` gives ``"第 " counter(page) " 页"``.
    """
    parts = re.split(r"%\((\w+)\)s", str(text))
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(counters[part])
        elif part:
            out.append(css_string(part))
    return " ".join(out) or '""'


def render_pdf(template: str, context: dict, *, number: str = "", locale: str = "zh") -> bytes:
    """Render ``templates/pdf/<template>`` from a plain dict to PDF bytes."""
    _check_plain(context)
    digest = content_hash(template, context)
    with force_locale(locale):
        doc = {
            "number": number,
            "sha256": digest,
            "locale": locale,
            "number_label": css_string(_("No. %(number)s", number=number)) if number else "",
            "page_label": css_content(_("Page %(page)s of %(pages)s"),
                                      {"page": "counter(page)", "pages": "counter(pages)"}),
        }
        html = render_template(f"pdf/{template}", doc=doc, **context)
    root = static_root()
    document = HTML(string=html, base_url=root.as_uri() + "/", url_fetcher=StaticOnlyFetcher(root))
    return document.write_pdf()


def next_number(prefix: str, year: int) -> str:
    """The next document number in a series, e.g. 郑民采〔2026〕0007号 style: PREFIX-2026-00007."""
    like = f"{prefix}-{year}-%"
    count = db.session.scalar(sa.select(sa.func.count(GeneratedDocument.id)).where(GeneratedDocument.number.like(like)))
    return f"{prefix}-{year}-{count + 1:05d}"


def issue_document(key: str, template: str, context: dict, *, prefix: str, now: datetime, locale: str = "zh",
                   issued_by=None) -> GeneratedDocument:
    """Render a document the first time it is asked for; afterwards return the stored copy unchanged."""
    existing = db.session.scalar(sa.select(GeneratedDocument).where(GeneratedDocument.key == key))
    if existing is not None:
        return existing
    number = next_number(prefix, now.astimezone(BEIJING).year)  # the year on the bureau's calendar
    data = render_pdf(template, context, number=number, locale=locale)
    stored = store_bytes(data, file_type=PDF, original_name=f"{number}.pdf", uploaded_by=issued_by)
    document = GeneratedDocument(key=key, number=number, template=template,
                                 content_sha256=content_hash(template, context), file=stored, created_at=now)
    db.session.add(document)
    db.session.flush()
    return document


def init_app(app) -> None:
    app.jinja_env.filters["rmb_upper"] = rmb_upper
