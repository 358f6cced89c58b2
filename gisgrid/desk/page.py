"""How a desk page is rendered: the shared frame (account bar, language switch, the words the
page's script shows) around a template of this package."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from gisgrid.auth.access import Principal
from gisgrid.auth.bar import BAR_CSS, account_bar
from gisgrid.cases.calendar import work_calendar
from gisgrid.core.clock import Clock
from gisgrid.desk import texts
from gisgrid.pagekit import frame

STATIC = Path(__file__).parent / "static"
templates = frame.templates(Path(__file__).parent / "templates")
LANG = Query("zh", pattern="^(zh|en)$", description="zh 中文 or en English")
# the words every desk script shows itself (the API's messages arrive bilingual)
SCRIPT_WORDS = ("saving", "saved", "retry", "required")


def render(request: Request, name: str, me: Principal, lang: str, clock: Clock, *, script_words: tuple[str, ...] = (),
           config: dict | None = None, **context) -> HTMLResponse:
    """``name`` rendered with the page's words ``t``, the caller ``me``, today's date in the work
    calendar's zone, and ``config`` (with the script's words) as JSON for the page's script."""
    t = texts.TEXT[lang]
    today = clock.now().astimezone(work_calendar().zone).date()
    script = {"lang": lang, "staff_id": me.staff_id, "words": {k: t[k] for k in SCRIPT_WORDS + script_words},
              **(config or {})}
    return templates.TemplateResponse(request, name, {
        "t": t, "lang": lang, "me": me, "zone": work_calendar().zone, "bar": account_bar(me, lang) + BAR_CSS,
        "today": today.isoformat(), "config": json.dumps(script, ensure_ascii=False, default=str),
        "query": request.url.query, **context})
