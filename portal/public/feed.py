"""The Atom 1.0 feed of the newest notices (RFC 4287), built with xml.etree so every text is escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from flask import url_for

from portal.db import utcnow
from portal.notices import NOTICE_KIND_LABELS, Notice, NoticeKind

ATOM_NS = "http://www.w3.org/2005/Atom"
FEED_SIZE = 50  # the newest notices in the feed
SUMMARY_MAX = 500  # characters of a notice's text in its entry's summary

ET.register_namespace("", ATOM_NS)


def atom_time(instant: datetime) -> str:
    """An RFC 3339 timestamp in UTC, e.g. 2026-11-30T02:00:00Z."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(parent, tag: str, text: str | None = None, **attrs) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", {k: str(v) for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def summary_of(notice: Notice) -> str:
    text = " ".join(notice.paragraphs)
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def atom_feed(notices: list[Notice], *, title: str) -> bytes:
    """The feed document for ``notices`` (newest first), with absolute links to the board's pages."""
    board = url_for("public.notices", _external=True)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _sub(feed, "id", board)
    _sub(feed, "title", title)
    _sub(feed, "updated", atom_time(max((n.published_at for n in notices), default=None) or utcnow()))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=url_for("public.notices_feed", _external=True))
    _sub(feed, "link", rel="alternate", type="text/html", href=board)
    for notice in notices:
        entry = _sub(feed, "entry")
        page = url_for("public.notice", notice_id=notice.id, _external=True)
        _sub(entry, "id", page)
        _sub(entry, "title", notice.title)
        _sub(entry, "updated", atom_time(notice.published_at))
        _sub(entry, "published", atom_time(notice.published_at))
        _sub(_sub(entry, "author"), "name", notice.bureau.name)
        _sub(entry, "link", rel="alternate", type="text/html", href=page)
        _sub(entry, "category", term=notice.kind, label=str(NOTICE_KIND_LABELS[NoticeKind(notice.kind)]))
        _sub(entry, "summary", summary_of(notice), type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
