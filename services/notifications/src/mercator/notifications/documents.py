"""Templates (Jinja2, sandboxed) and documents (HTML rendered to PDF by fpdf2 with PT Sans, which carries
Cyrillic: nothing but what pip installs)."""

from __future__ import annotations

import re
import sys
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import fontpkg_pt_sans
from fpdf import FPDF
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, Undefined
from jinja2.sandbox import SandboxedEnvironment

from mercator.common.rules import InvalidValue

FONT = "PTSans"
_FONT_FILES = {"": "PT_Sans-Web-Regular.ttf", "B": "PT_Sans-Web-Bold.ttf", "I": "PT_Sans-Web-Italic.ttf",
               "BI": "PT_Sans-Web-BoldItalic.ttf"}


def money(value: Any, currency: str | None = None) -> str:
    """'120 000,00 RUB': amounts as Russian documents write them."""
    if value is None or value == "":
        return ""
    text = f"{Decimal(str(value)):,.2f}".replace(",", "\u00a0").replace(".", ",")
    return f"{text} {currency}" if currency else text


def ru_date(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime | date):
        return value.strftime("%d.%m.%Y")
    return "" if value is None else str(value)


def quantity(value: Any) -> str:
    if value is None:
        return ""
    number = Decimal(str(value))
    return str(number.quantize(Decimal(1)) if number == number.to_integral_value() else number.normalize())


def _environment(undefined: type[Undefined], autoescape: bool) -> SandboxedEnvironment:
    # Sandboxed: templates are data anyone with the right role edits through the API, so they must not
    # reach Python internals.
    env = SandboxedEnvironment(undefined=undefined, autoescape=autoescape, trim_blocks=True, lstrip_blocks=True,
                               keep_trailing_newline=False)
    env.filters.update(money=money, date=ru_date, qty=quantity)
    return env


@lru_cache(maxsize=4)
def environment(strict: bool = False, html: bool = False) -> SandboxedEnvironment:
    return _environment(StrictUndefined if strict else Undefined, html)


def _template_line() -> int | None:
    """The line of the template an exception raised while rendering came from (Jinja2 maps its frames
    back to the template's lines under the file name '<template>')."""
    tb = sys.exc_info()[2]
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def check_template(source: str, field: str, sample: dict[str, Any], *, html: bool = False) -> None:
    """A template that does not parse, or fails on a sample of the data it is filled with (an unknown
    name, a wrong filter), is refused naming the line: at save, not when a client is waiting for it."""
    env = environment(strict=True, html=html)
    try:
        compiled = env.from_string(source)
    except TemplateSyntaxError as exc:
        raise InvalidValue("template_syntax", f"line {exc.lineno}: {exc.message}", field) from exc
    try:
        compiled.render(sample)
    except TemplateError as exc:
        line = _template_line()
        where = f"line {line}: " if line else ""
        raise InvalidValue("template_error", f"{where}{exc.message or exc}", field) from exc
    except Exception as exc:  # noqa: BLE001 - e.g. a division by zero in the template itself
        line = _template_line()
        where = f"line {line}: " if line else ""
        raise InvalidValue("template_error", f"{where}{type(exc).__name__}: {exc}", field) from exc


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool):
    # Compiling costs more than rendering; a template's source changes only with a new version.
    return environment(html=html).from_string(source)


def render_text(source: str, context: dict[str, Any], *, html: bool = False) -> str:
    return _compiled(source, html).render(context)


class DocumentPDF(FPDF):
    def __init__(self, title: str, styles: tuple[str, ...] = ("", "B", "I", "BI")):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.set_title(title)
        self.set_creator("Mercator")
        # fpdf2 subsets every font added, used or not, and that is most of a document's cost: only the
        # styles the HTML can use are added.
        for style in styles:
            self.add_font(FONT, style, str(fontpkg_pt_sans.ROOT / "files" / _FONT_FILES[style]))
        self.set_font(FONT, size=10)
        self.set_auto_page_break(True, margin=15)
        self.set_margins(18, 15, 15)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.cell(0, 5, f"{self.title} — стр. {self.page_no()}/{{nb}}", align="C")


_ITALIC = re.compile(r"<(i|em|cite|dfn|var|address)\b", re.IGNORECASE)


def html_to_pdf(title: str, html: str) -> bytes:
    styles = ("", "B", "I", "BI") if _ITALIC.search(html) else ("", "B")
    pdf = DocumentPDF(title, styles)
    pdf.add_page()
    pdf.write_html(html, font_family=FONT, table_line_separators=True)
    return bytes(pdf.output())


def render_document(title_source: str, body_source: str, context: dict[str, Any]) -> tuple[str, bytes]:
    """(file name, PDF bytes) of a document template filled with `context`."""
    title = render_text(title_source, context).strip() or "document"
    return pdf_filename(title), html_to_pdf(title, render_text(body_source, context, html=True))


def pdf_filename(title: str) -> str:
    # Only what file systems and mail clients choke on goes: the name stays readable in Russian.
    safe = "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in title).strip().replace(" ", "_")
    return f"{safe[:120] or 'document'}.pdf"
