"""Mail templates: `templates/<lang>/<name>.subject.txt|.txt|.html`.

Two Jinja2 environments share one lookup order (the site's override folder,
then the packaged templates, each first in the wanted language, then in
English). Plain text is rendered without escaping, HTML with autoescaping;
both use StrictUndefined so a missing value fails the render (and the test)
instead of silently printing nothing into a letter to a supplier's director.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

from mailbot.resources import templates_dir

_LOCALES = {"nl": "nl_NL", "en": "en_GB"}


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class TemplateMissing(LookupError):
    """No template of that name in any lookup folder."""


class Renderer:
    def __init__(self, site_dir: Path | None = None, timezone: str = "Europe/Amsterdam") -> None:
        self.site_dir = site_dir
        self.tz = ZoneInfo(timezone)
        self._envs: dict[tuple[str, bool], Environment] = {}

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
            )
            env.filters.update(self._filters(language))
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
            return format_date(value, format="EEEE d MMMM y", locale=locale)

        def shortdate(value: date | datetime) -> str:
            if isinstance(value, datetime):
                value = local(value).date()
            return format_date(value, format="d MMM y", locale=locale)

        def longdatetime(value: datetime) -> str:
            moment = local(value)
            day = format_date(moment.date(), format="EEEE d MMMM y", locale=locale)
            clock = format_time(moment, format="HH:mm", locale=locale)
            joiner = "om" if language == "nl" else "at"
            return f"{day} {joiner} {clock}"

        def isodatetime(value: datetime) -> str:
            return format_datetime(local(value), format="yyyy-MM-dd HH:mm", locale=locale)

        return {
            "longdate": longdate,
            "shortdate": shortdate,
            "longdatetime": longdatetime,
            "isodatetime": isodatetime,
        }

    def render(self, name: str, language: str, **context: Any) -> RenderedMail:
        """Render the triple `name` in `language` (falling back to English)."""
        try:
            text_env = self._env(language, html=False)
            subject = text_env.get_template(f"{name}.subject.txt").render(**context)
            text = text_env.get_template(f"{name}.txt").render(**context)
            html = self._env(language, html=True).get_template(f"{name}.html").render(**context)
        except Exception as exc:
            from jinja2 import TemplateNotFound

            if isinstance(exc, TemplateNotFound):
                raise TemplateMissing(f"template {exc.name!r} not found for {language!r}") from exc
            raise
        return RenderedMail(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)

    def exists(self, name: str, language: str) -> bool:
        return any((Path(f) / f"{name}.txt").is_file() for f in self._folders(language))
