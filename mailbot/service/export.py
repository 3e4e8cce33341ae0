"""`mailbot case export`: a case's whole correspondence for the archive (Archiefwet/Woo).

Writes every mail in and out as an `.eml` file exactly as it was received or
sent, a readable `timeline.html`, and `case.json` with the case's data: the
dossier a step-5 decision or an information request needs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined
from sqlalchemy import select

from mailbot.service.app import App
from mailbot.store import queries
from mailbot.store.tables import Case, InboundMessage, OutboundMessage

_TIMELINE = """<!DOCTYPE html>
<html lang="{{ language }}"><head><meta charset="utf-8"><title>{{ case.ref }}</title>
<style>body{font-family:Arial,sans-serif;max-width:60em;margin:2em auto;color:#1f2328}
td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{background:#f4f5f7}</style></head><body>
<h1>{{ case.ref }} — {{ case.title }}</h1>
<p>{{ case.kind }} · {{ case.state }}{% if case.step %} · step {{ case.step }}{% endif %}
{% if case.supplier %} · {{ case.supplier }}{% endif %} · owner {{ case.owner or "-" }}<br>
opened {{ local(case.opened_at) }}
{% if case.closed_at %} · closed {{ local(case.closed_at) }}{% endif %} ({{ timezone }})</p>
<h2>People</h2><table>{% for p in case.participants %}
<tr><td>{{ p.role }}</td><td>{{ p.name }}</td><td>{{ p.email }}</td></tr>{% endfor %}</table>
<h2>Timeline</h2><table><tr><th>when</th><th>who</th><th>what</th><th>mail</th></tr>
{% for e in case.timeline %}<tr><td>{{ local(e.at) }}</td><td>{{ e.actor }}</td>
<td>{{ e.summary }}</td>
<td>{% if e.file %}<a href="{{ e.file }}">{{ e.file }}</a>{% endif %}</td></tr>{% endfor %}</table>
</body></html>
"""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60] or "mail"


def export_case(app: App, ref: str, target: Path) -> Path | None:
    """Write the dossier of `ref` into `target/ref`; returns that folder (None: no such case)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    with app.db.session() as session:
        detail = queries.case_detail(session, ref)
        if detail is None:
            return None
        case = session.scalar(select(Case).where(Case.ref == ref))
        assert case is not None
        folder = target / ref
        folder.mkdir(parents=True, exist_ok=True)
        files: dict[tuple[str, int], str] = {}
        inbound = session.scalars(
            select(InboundMessage)
            .where(InboundMessage.case_id == case.id)
            .order_by(InboundMessage.id)
        )
        for row in inbound:
            if row.raw is None:
                continue
            name = f"in-{row.id:06d}-{row.received_at:%Y%m%d-%H%M}-{_slug(row.subject)}.eml"
            (folder / name).write_bytes(row.raw)
            files[("in", row.id)] = name
        outbound = session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.case_id == case.id)
            .order_by(OutboundMessage.id)
        )
        for out in outbound:
            when = out.sent_at or out.created_at
            name = f"out-{out.id:06d}-{when:%Y%m%d-%H%M}-{_slug(out.subject)}.eml"
            (folder / name).write_bytes(out.raw)
            files[("out", out.id)] = name
    for event in detail["timeline"]:
        event["file"] = files.get(("in", event["inbound_id"])) or files.get(
            ("out", event["outbound_id"])
        )
    tz = ZoneInfo(app.config.mailbot.timezone)

    def local(moment: Any) -> str:
        if not moment:
            return ""
        return datetime.fromisoformat(str(moment)).astimezone(tz).strftime("%Y-%m-%d %H:%M")

    html = (
        Environment(autoescape=True, undefined=StrictUndefined)
        .from_string(_TIMELINE)
        .render(
            case=detail,
            local=local,
            timezone=app.config.mailbot.timezone,
            language=detail["language"],
        )
    )
    (folder / "timeline.html").write_text(html, encoding="utf-8")
    (folder / "case.json").write_text(
        json.dumps(detail, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    return folder
