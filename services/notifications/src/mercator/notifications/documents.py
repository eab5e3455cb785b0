"""Templates (Jinja2, sandboxed) and documents (HTML rendered to PDF by fpdf2 with PT Sans, which carries
Cyrillic: nothing but what pip installs).

The service runs these in worker processes within limits (rendering.py); the size checks here are the cheap
first line, the process limits the real bound."""

from __future__ import annotations

import re
import sys
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import fontpkg_pt_sans  # type: ignore[import-untyped]
from fpdf import FPDF
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, Undefined
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from mercator.common.errors import InvalidValue

FONT = "PTSans"
_FONT_FILES = {
    "": "PT_Sans-Web-Regular.ttf",
    "B": "PT_Sans-Web-Bold.ttf",
    "I": "PT_Sans-Web-Italic.ttf",
    "BI": "PT_Sans-Web-BoldItalic.ttf",
}


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


# The most bytes a template's output may have; a worker process sets it from its settings.
output_cap = 10_000_000
# Bits of the largest power a template may compute: a big one is minutes of CPU in one uninterruptible call.
_POWER_BITS = 100_000


class TooLarge(Exception):
    """Output (or a string, list or number on the way to it) over the limit of a render."""


def _check_size(size: int) -> None:
    if size > output_cap:
        raise TooLarge(f"output larger than {output_cap} bytes")


class GuardedEnvironment(SandboxedEnvironment):
    """The sandbox, refusing `'a' * 300000000` or `9 ** 9 ** 9` before they cost anything. (Jinja2's own
    sandbox already stops a `range` at 100,000 items.) Intercepting these also keeps Jinja2 from folding
    them as constants while compiling."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for items, times in ((left, right), (right, left)):
                if isinstance(items, str | list | tuple) and isinstance(times, int):
                    _check_size(len(items) * times)
        elif (
            isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and abs(left) > 1
            and abs(left).bit_length() * right > _POWER_BITS
        ):
            raise TooLarge(f"{left} ** {right} is larger than a template may compute")
        return super().call_binop(context, operator, left, right)


def _environment(undefined: type[Undefined], autoescape: bool) -> SandboxedEnvironment:
    # Sandboxed: templates are data anyone with the right role edits through the API, so they must not
    # reach Python internals.
    env = GuardedEnvironment(
        undefined=undefined, autoescape=autoescape, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False
    )
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


def check_template(source: str, field: str, sample: dict[str, Any], *, html: bool = False) -> str:
    """A template that does not parse, or fails on a sample of the data it is filled with (an unknown
    name, a wrong filter), is refused naming the line: at save, not when a client is waiting for it.
    Returns what it rendered. A limit hit (TooLarge, MemoryError) is the caller's to report."""
    env = environment(strict=True, html=html)
    try:
        compiled = env.from_string(source)
    except TemplateSyntaxError as exc:
        raise InvalidValue("template_syntax", f"line {exc.lineno}: {exc.message}", field) from exc
    try:
        text = compiled.render(sample)
    except (TooLarge, MemoryError):
        raise
    except TemplateError as exc:
        line = _template_line()
        where = f"line {line}: " if line else ""
        raise InvalidValue("template_error", f"{where}{exc.message or exc}", field) from exc
    except Exception as exc:
        line = _template_line()
        where = f"line {line}: " if line else ""
        raise InvalidValue("template_error", f"{where}{type(exc).__name__}: {exc}", field) from exc
    _check_size(len(text.encode()))
    return text


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool):
    # Compiling costs more than rendering; a template's source changes only with a new version.
    return environment(html=html).from_string(source)


def render_text(source: str, context: dict[str, Any], *, html: bool = False) -> str:
    text = _compiled(source, html).render(context)
    _check_size(len(text.encode()))
    return text


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

    def image(self, name, *args, **kwargs):
        # fpdf2 fetches an <img> whose src is a URL and reads one that is a path: a template would make the
        # service call any address it reaches (its peers, a cloud's metadata) or put its files into a PDF that is
        # mailed to a client. A document embeds its images (a logo) as data: URIs, and fetches nothing.
        if not (isinstance(name, str) and name.startswith("data:image/")):
            raise ValueError(f"an image must be embedded as a data:image/... URI, not fetched from {str(name)[:100]!r}")
        return super().image(name, *args, **kwargs)

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
    content = bytes(pdf.output())
    _check_size(len(content))
    return content


def render_document(title_source: str, body_source: str, context: dict[str, Any]) -> tuple[str, bytes]:
    """(file name, PDF bytes) of a document template filled with `context`."""
    title = render_text(title_source, context).strip() or "document"
    return pdf_filename(title), html_to_pdf(title, render_text(body_source, context, html=True))


def pdf_filename(title: str) -> str:
    # Only what file systems and mail clients choke on goes: the name stays readable in Russian.
    safe = "".join("_" if c in '/\\:*?"<>|' or ord(c) < 32 else c for c in title).strip().replace(" ", "_")
    return f"{safe[:120] or 'document'}.pdf"
