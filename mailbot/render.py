"""Mail templates: `templates/<lang>/<name>.subject.txt|.txt|.html`.

Two Jinja2 environments share one lookup order (the site's override folder,
then the packaged templates, each first in the wanted language, then in
English). Plain text is rendered without escaping, HTML with autoescaping;
both use StrictUndefined so a missing value fails the render (and the test)
instead of silently printing nothing into a letter to a supplier's director.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
)
from markupsafe import Markup, escape

from mailbot.domain.commands import Verb
from mailbot.resources import templates_dir

_LOCALES = {"nl": "nl_NL", "en": "en_GB"}
# Every command word in both languages (and DOSSIER/RECORD, which GEGEVEN takes),
# longest first so "GEEN CAP" wins over "CAP".
COMMAND_WORDS = sorted(
    {word for verb in Verb for word in (verb.value, verb.english)} | {"DOSSIER", "RECORD"},
    key=len,
    reverse=True,
)
_COMMAND_RE = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, COMMAND_WORDS)) + r")(?![\w-])")
_COMMAND_STYLE = "color:#0b57d0;font-weight:bold;font-family:Consolas,Menlo,monospace;"
_QUOTE_STYLE = "margin:8px 0;padding:8px 12px;border-left:3px solid #d0d7de;color:#57606a;"


def text_to_html(text: str) -> Markup:
    """The plain-text mail as Outlook-safe HTML: paragraphs, lists, quotes, command words.

    The input is the already rendered plain-text template; it is escaped here,
    so user text inside it can never become markup.
    """
    blocks = re.split(r"\n\s*\n", str(text).strip())
    html: list[str] = []
    for block in blocks:
        lines = block.split("\n")
        if all(line.startswith(">") for line in lines):
            body = "<br>".join(_inline(line[1:].removeprefix(" ")) for line in lines)
            html.append(f'<div style="{_QUOTE_STYLE}">{body}</div>')
        elif all(line.lstrip().startswith("- ") for line in lines):
            items = "".join(f"<li>{_inline(line.lstrip()[2:])}</li>" for line in lines)
            html.append(f'<ul style="margin:0 0 12px 20px;padding:0;">{items}</ul>')
        elif lines[0].strip() == "---":
            rest = "<br>".join(_inline(line) for line in lines[1:])
            html.append(f'<p style="margin:16px 0 0 0;font-size:12px;color:#6a737d;">{rest}</p>')
        else:
            head, *tail = lines
            if tail and all(line.lstrip().startswith("- ") for line in tail):
                items = "".join(f"<li>{_inline(line.lstrip()[2:])}</li>" for line in tail)
                html.append(
                    f'<p style="margin:0 0 4px 0;">{_inline(head)}</p>'
                    f'<ul style="margin:0 0 12px 20px;padding:0;">{items}</ul>'
                )
            else:
                body = "<br>".join(_inline(line) for line in lines)
                html.append(f'<p style="margin:0 0 12px 0;">{body}</p>')
    return Markup("\n".join(html))  # noqa: S704 - every piece was escaped above


def _inline(line: str) -> str:
    escaped = str(escape(line))
    return _COMMAND_RE.sub(lambda m: f'<span style="{_COMMAND_STYLE}">{m.group(1)}</span>', escaped)


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class TemplateMissing(LookupError):
    """No template of that name in any lookup folder."""


@lru_cache(maxsize=4096)
def _format_date(value: date, pattern: str, locale: str) -> str:
    """Babel's formatting parses the pattern and the locale data on every call; letters
    name the same few dates (today, the deadlines) over and over."""
    return format_date(value, format=pattern, locale=locale)


class Renderer:
    def __init__(
        self,
        site_dir: Path | None = None,
        timezone: str = "Europe/Amsterdam",
        globals: dict[str, Any] | None = None,
    ) -> None:
        self.site_dir = site_dir
        self.tz = ZoneInfo(timezone)
        self.globals = dict(globals or {})
        self._envs: dict[tuple[str, bool], Environment] = {}
        # which HTML template a mail uses: its own `<name>.html` or `_text.html`; Jinja
        # does not remember that a name was missing and would search every folder again
        self._html: dict[tuple[str, str], Template] = {}

    def _folders(self, language: str) -> list[str]:
        roots = [p for p in (self.site_dir, templates_dir()) if p is not None]
        order = [language] if language == "en" else [language, "en"]
        return [str(root / lang) for lang in order for root in roots]

    def _env(self, language: str, html: bool) -> Environment:
        key = (language, html)
        env = self._envs.get(key)
        if env is None:
            env = Environment(
                loader=ChoiceLoader([FileSystemLoader(f) for f in self._folders(language)]),
                undefined=StrictUndefined,
                autoescape=html,  # noqa: S701 - plain-text mail must not be HTML-escaped
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
                # read once per process: checking every template file's time stamp on
                # every mail was a measurable share of a backlog; edits apply at restart
                auto_reload=False,
            )
            env.filters.update(self._filters(language))
            env.globals.update(self.globals)
            self._envs[key] = env
        return env

    def _filters(self, language: str) -> dict[str, Any]:
        locale = _LOCALES.get(language, "en_GB")
        tz = self.tz

        def local(moment: datetime) -> datetime:
            return moment.astimezone(tz)

        def longdate(value: date | datetime) -> str:
            """`maandag 14 december 2026` / `Monday 14 December 2026`."""
            if isinstance(value, datetime):
                value = local(value).date()
            return _format_date(value, "EEEE d MMMM y", locale)

        def shortdate(value: date | datetime) -> str:
            if isinstance(value, datetime):
                value = local(value).date()
            return _format_date(value, "d MMM y", locale)

        def longdatetime(value: datetime) -> str:
            moment = local(value)
            day = _format_date(moment.date(), "EEEE d MMMM y", locale)
            clock = format_time(moment, format="HH:mm", locale=locale)
            joiner = "om" if language == "nl" else "at"
            return f"{day} {joiner} {clock}"

        def isodatetime(value: datetime) -> str:
            return format_datetime(local(value), format="yyyy-MM-dd HH:mm", locale=locale)

        def first_name(name: str) -> str:
            """`Anna` from `Anna Jansen`; an address stays whole."""
            name = (name or "").strip()
            return name if "@" in name or not name else name.split()[0]

        return {
            "text_to_html": text_to_html,
            "first_name": first_name,
            "longdate": longdate,
            "shortdate": shortdate,
            "longdatetime": longdatetime,
            "isodatetime": isodatetime,
        }

    def render(self, name: str, language: str, **context: Any) -> RenderedMail:
        """Render `name` in `language` (falling back to English).

        `<name>.html` is optional: without it, `_text.html` shows the rendered
        plain text as Outlook-safe HTML (`text_body`), so the two never drift apart.
        """
        text_env = self._env(language, html=False)
        html_env = self._env(language, html=True)
        try:
            subject = " ".join(
                text_env.get_template(f"{name}.subject.txt").render(**context).split()
            )
            text = text_env.get_template(f"{name}.txt").render(**context)
            text = re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", text).strip() + "\n"
            template = self._html.get((language, name))
            if template is None:
                template = html_env.select_template([f"{name}.html", "_text.html"])
                self._html[(language, name)] = template
            html = template.render({**context, "mail_subject": subject, "text_body": text})
        except TemplateNotFound as exc:
            raise TemplateMissing(f"template {exc.name!r} not found for {language!r}") from exc
        return RenderedMail(subject=subject, text=text, html=html)

    def exists(self, name: str, language: str) -> bool:
        return any((Path(f) / f"{name}.txt").is_file() for f in self._folders(language))
