"""The strip every staff page carries: who is signed in, as what, the way home and out."""

from __future__ import annotations

from html import escape

from gisgrid.auth.access import Principal

WORDS = {"zh": {"home": "首页", "out": "退出"}, "en": {"home": "Home", "out": "Sign out"}}

BAR_CSS = """<style>
  .gg-account { font: 13px/1.6 'Noto Sans CJK SC', sans-serif; display: flex; gap: .6em; align-items: center;
                flex-wrap: wrap; }
  .gg-account form { display: inline; margin: 0; }
  .gg-account button { font: inherit; padding: 0 .6em; cursor: pointer; }
  @media print { .gg-account { display: none; } }
</style>"""


def account_bar(principal: Principal | None, lang: str) -> str:
    """The signed-in account and its role, a link home and a sign-out button (a form: it works
    without script); nothing for nobody."""
    if principal is None or principal.account_id == 0:
        return ""
    words = WORDS[lang]
    role = principal.role.label_zh if lang == "zh" else principal.role.value.replace("_", " ")
    return (f'<div class="gg-account" id="gg-account"><a href="/?lang={lang}">{words["home"]}</a>'
            f'<span id="gg-who">{escape(principal.username)}（{escape(role)}）</span>'
            f'<form method="post" action="/sign-out"><button type="submit" id="gg-sign-out">{words["out"]}</button>'
            "</form></div>")
