"""LaTeX in titles, abstracts and comments, rendered for people: HTML for pages, plain Unicode for
feeds, plain-text email and `<title>`.  One parser, two emitters, shared by the site, the feeds and
the mailer (no copies).

Why a parser of our own and not pylatexenc's walker: pylatexenc's `LatexWalker` took 20.5 ms per
arXiv abstract here (500 abstracts of the shared corpus), which would cost a daily page of 20 cards
0.4 s and a digest email 0.5 s; this scanner handles the subset arXiv metadata uses (inline and display
math, text-style commands, accents, escapes, dashes and quotes, `\\url`/`\\href`) in a small fraction of
that.  pylatexenc is still used, for its table of symbol macros (`\\alpha` -> α, `\\times` -> ×).

Safety: every piece of output is built from escaped parts.  Text is escaped (or handed to a hook that
escapes, e.g. the search highlighter); MathML from latex2mathml is NOT trusted (it passes `\\text{<b>}`
through as markup and turns `\\href{javascript:…}` into an attribute), so it is re-parsed and rebuilt
from an allow-list of MathML elements and attributes, with text escaped; links keep http(s) URLs only.
Malformed input never raises: an unclosed `$` is a dollar sign, an unknown macro stays as typed.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from markupsafe import Markup, escape

MAX_DEPTH = 40  # deeper brace nesting is shown as typed (and keeps recursion bounded on hostile input)

# -- the tree -------------------------------------------------------------------------------------


@dataclass
class Node:
    kind: str  # "text" | "math" | "style" | "link"
    text: str = ""  # text: the characters; math: the LaTeX source; link: the URL
    tag: str = ""  # style: em | strong | code | sup | sub | u | smallcaps; math: inline | block
    children: list[Node] = field(default_factory=list)


STYLE_MACROS = {
    "emph": "em", "textit": "em", "textsl": "em", "mathit": "em",
    "textbf": "strong", "mathbf": "strong", "bm": "strong", "boldsymbol": "strong",
    "texttt": "code", "mathtt": "code",
    "textsuperscript": "sup", "textsubscript": "sub",
    "underline": "u", "textsc": "smallcaps",
    "text": "", "textrm": "", "textnormal": "", "textsf": "", "mbox": "", "mathrm": "", "textup": "",
    "textmd": "", "mathsf": "", "textcolor": "", "colorbox": "",
}
DECLARATIONS = {"em": "em", "it": "em", "itshape": "em", "sl": "em", "bf": "strong", "bfseries": "strong",
                "tt": "code", "ttfamily": "code", "sc": "smallcaps", "scshape": "smallcaps",
                "rm": "", "normalfont": "", "small": "", "large": "", "Large": "", "footnotesize": ""}
SKIP_ONE_ARG = {"color", "label", "vspace", "hspace"}  # their argument is not text
WORDS = {"eg": "e.g.", "ie": "i.e.", "etal": "et al.", "LaTeX": "LaTeX", "TeX": "TeX", "ldots": "…",
         "dots": "…", "textbackslash": "\\", "newline": " ", "par": " ", "quad": " ", "qquad": " ",
         "deg": "°", "textdegree": "°", "copyright": "©", "textregistered": "®", "texttrademark": "™"}
ESCAPES = {"%": "%", "&": "&", "_": "_", "#": "#", "$": "$", "{": "{", "}": "}", " ": " ", ",": "\u2009",
           ";": " ", ":": " ", "!": "", "\\": " ", "/": "", "-": "", "@": ""}
ACCENTS = {"'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
           ".": "\u0307", "c": "\u0327", "v": "\u030c", "u": "\u0306", "H": "\u030b", "k": "\u0328",
           "r": "\u030a", "d": "\u0323", "b": "\u0331"}
LETTERS = {"ss": "ß", "o": "ø", "O": "Ø", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "aa": "å", "AA": "Å",
           "l": "ł", "L": "Ł", "i": "ı", "j": "ȷ"}

_TOKEN = re.compile(r"\$\$|\$|\\\(|\\\[|\\[a-zA-Z]+\*?|\\.|[{}~]|---|--|``|''", re.DOTALL)
_CLOSERS = {"$$": "$$", "$": "$", "\\(": "\\)", "\\[": "\\]"}
_URL_OK = re.compile(r"https?://[^\s<>\"'`{}\\]+", re.IGNORECASE)


@lru_cache(maxsize=4096)
def symbol(name: str) -> str | None:
    """The Unicode text of a symbol macro (`alpha` -> 'α'), from pylatexenc's table, or None."""
    if name in WORDS:
        return WORDS[name]
    if name in LETTERS:
        return LETTERS[name]
    spec = _latex2text_db().get_macro_spec(name)
    repl = getattr(spec, "simplify_repl", None) if spec else None
    if isinstance(repl, str) and "%" not in repl and "{" not in repl:
        return repl
    return None


@lru_cache(maxsize=1)
def _latex2text_db():  # type: ignore[no-untyped-def]
    from pylatexenc import latex2text

    return latex2text.get_default_latex_context_db()


def safe_url(url: str) -> str | None:
    """`url` when it is a plain http(s) URL, else None (javascript:, data:, relative paths are refused)."""
    url = url.strip()
    return url if _URL_OK.fullmatch(url) else None


class _Parser:
    def __init__(self, src: str):
        self.s = src
        self.tokens = list(_TOKEN.finditer(src))
        self.ti = 0  # next token
        self.pos = 0  # next character

    def _next_token(self) -> re.Match[str] | None:
        while self.ti < len(self.tokens) and self.tokens[self.ti].start() < self.pos:
            self.ti += 1
        return self.tokens[self.ti] if self.ti < len(self.tokens) else None

    def _group(self, depth: int) -> list[Node] | None:
        """A `{…}` argument right here (spaces allowed before it), parsed; None when there is none."""
        j = self.pos
        while j < len(self.s) and self.s[j] in " \t\n":
            j += 1
        if j >= len(self.s) or self.s[j] != "{" or depth >= MAX_DEPTH:
            return None
        end = self._matching_brace(j)
        if end is None:
            return None
        self.pos = j + 1
        nodes = self.parse(depth + 1, until=end)
        self.pos = end + 1
        return nodes

    def _raw_group(self) -> str | None:
        """A `{…}` argument taken verbatim (URLs: `\\url{a_b%20}` keeps its underscores and percents)."""
        j = self.pos
        while j < len(self.s) and self.s[j] in " \t\n":
            j += 1
        if j >= len(self.s) or self.s[j] != "{":
            return None
        end = self._matching_brace(j)
        if end is None:
            return None
        self.pos = end + 1
        return self.s[j + 1 : end]

    def _matching_brace(self, j: int) -> int | None:
        depth, k = 0, j
        while k < len(self.s):
            ch = self.s[k]
            if ch == "\\":
                k += 2
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return k
            k += 1
        return None

    def parse(self, depth: int = 0, until: int | None = None) -> list[Node]:
        out: list[Node] = []
        stop = len(self.s) if until is None else until

        def text(t: str) -> None:
            if not t:
                return
            if out and out[-1].kind == "text":
                out[-1].text += t
            else:
                out.append(Node("text", t))

        while self.pos < stop:
            m = self._next_token()
            if m is None or m.start() >= stop:
                text(self.s[self.pos : stop])
                self.pos = stop
                break
            text(self.s[self.pos : m.start()])
            tok = m.group(0)
            self.pos = m.end()
            if tok in _CLOSERS:
                close = self.s.find(_CLOSERS[tok], self.pos, stop)
                if tok == "$":  # skip escaped dollars inside
                    while close > 0 and self.s[close - 1] == "\\":
                        close = self.s.find("$", close + 1, stop)
                if close < 0 or close == self.pos:
                    text(tok)
                    continue
                display = "block" if tok in ("$$", "\\[") else "inline"
                out.append(Node("math", self.s[self.pos : close], display))
                self.pos = close + len(_CLOSERS[tok])
            elif tok == "{":
                end = self._matching_brace(m.start()) if depth < MAX_DEPTH else None
                if end is None or end >= stop:
                    text("{")
                    continue
                inner = self.parse(depth + 1, until=end)
                self.pos = end + 1
                out.extend(inner)
            elif tok == "}":
                text("}")
            elif tok == "~":
                text("\u00a0")
            elif tok == "---":
                text("—")
            elif tok == "--":
                text("–")
            elif tok == "``":
                text("“")
            elif tok == "''":
                text("”")
            elif len(tok) == 2 and not tok[1].isalpha():  # \% \& \' \" …
                ch = tok[1]
                if ch in ACCENTS:
                    self._accent(ACCENTS[ch], text, depth)
                else:
                    text(ESCAPES.get(ch, ch))
            else:
                self._macro(tok[1:].rstrip("*"), tok, out, text, depth, stop)
        return out

    def _accent(self, mark: str, text: Callable[[str], None], depth: int) -> None:
        arg = self._group(depth)
        if arg is not None:
            base = "".join(n.text for n in arg if n.kind == "text")
        elif self.pos < len(self.s) and self.s[self.pos].isalpha():
            base = self.s[self.pos]
            self.pos += 1
        else:
            base = ""
        if base:
            base = {"\u0131": "i", "\u0237": "j"}.get(base[0], base[0]) + base[1:]
            text(unicodedata.normalize("NFC", base[0] + mark) + base[1:])
        else:
            text(mark.strip() or "")

    def _macro(self, name: str, raw: str, out: list[Node], text: Callable[[str], None], depth: int,
               stop: int) -> None:
        if name in ACCENTS and len(name) == 1:
            self._accent(ACCENTS[name], text, depth)
        elif name in ("url",):
            url = self._raw_group()
            if url is None:
                text(raw)
            elif safe_url(url):
                out.append(Node("link", url.strip(), children=[Node("text", url.strip())]))
            else:
                text(url)
        elif name == "href":
            url = self._raw_group()
            label = self._group(depth) if url is not None else None
            if url is None or label is None:
                text(raw)
            elif safe_url(url):
                out.append(Node("link", url.strip(), children=label))
            else:
                out.extend(label)
        elif name in ("textcolor", "colorbox"):
            self._raw_group()  # the colour
            arg = self._group(depth)
            if arg is not None:
                out.extend(arg)
        elif name in STYLE_MACROS:
            arg = self._group(depth)
            if arg is None:
                text(raw)
            elif STYLE_MACROS[name]:
                out.append(Node("style", tag=STYLE_MACROS[name], children=arg))
            else:
                out.extend(arg)
        elif name in DECLARATIONS:  # {\em …}: the rest of the current group
            while self.pos < stop and self.s[self.pos] in " \t\n":  # TeX eats the space after a control word
                self.pos += 1
            rest = self.parse(depth + 1, until=stop)
            out.append(Node("style", tag=DECLARATIONS[name], children=rest) if DECLARATIONS[name] else
                       Node("style", tag="", children=rest))
        elif name in SKIP_ONE_ARG:
            self._raw_group()
        elif name == "unicode":
            arg = self._raw_group()
            ch = _codepoint(arg) if arg is not None else None
            text(ch if ch is not None else raw + (f"{{{arg}}}" if arg is not None else ""))
        elif name in ("cite", "citep", "citet", "ref", "eqref"):
            arg = self._raw_group()
            text(f"[{arg}]" if arg is not None else raw)
        elif name == "footnote":
            arg = self._group(depth)
            if arg is not None:
                out.extend([Node("text", " ("), *arg, Node("text", ")")])
        elif (sym := symbol(name)) is not None:
            text(sym)
        else:
            text(raw)  # an author's own macro (\method, \model): shown as typed


def _codepoint(arg: str) -> str | None:
    m = re.fullmatch(r"\s*x?([0-9a-fA-F]{1,6})\s*", arg)
    if not m:
        return None
    cp = int(m.group(1), 16)
    if cp < 0x20 or 0xD800 <= cp <= 0xDFFF or cp > 0x10FFFF:
        return None
    return chr(cp)


_FAST = re.compile(r"[\\${}~`']|--")


@lru_cache(maxsize=8192)
def parse(src: str) -> tuple[Node, ...]:
    """The tree of `src` (cached: the same titles are rendered on many pages)."""
    if not _FAST.search(src):
        return (Node("text", src),)
    return tuple(_Parser(src).parse())


# -- plain text -----------------------------------------------------------------------------------

_SUP = str.maketrans("0123456789+-=()niT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱᵀ")
_SUB = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_SUP_OK = set("0123456789+-=()niT")
_SUB_OK = set("0123456789+-=()")
_MATH_MACRO = re.compile(r"\\([a-zA-Z]+)\s*")
_SCRIPT = re.compile(r"([_^])(\{([^{}]*)\}|\\[a-zA-Z]+|.)")


def math_text(src: str) -> str:
    """Math as Unicode text: `O(n^2)` -> 'O(n²)', `4\\times` -> '4×', `\\mathbb{R}^{d}` -> 'R^d'."""
    s = re.sub(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"(\1)/(\2)", src)
    s = re.sub(r"\\(?:mathbb|mathcal|mathrm|mathbf|mathit|mathsf|mathtt|text|textrm|textbf|operatorname|bm|"
               r"boldsymbol|hat|bar|tilde|vec|widehat|overline)\s*\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\unicode\s*\{([^{}]*)\}", lambda m: _codepoint(m.group(1)) or "", s)
    s = s.replace("\\sqrt", "√").replace("\\left", "").replace("\\right", "").replace("\\,", " ")
    s = s.replace("\\{", "{").replace("\\}", "}").replace("\\%", "%").replace("\\_", "_").replace("~", " ")

    def script(m: re.Match[str]) -> str:
        body = m.group(3) if m.group(3) is not None else m.group(2)
        body = _MATH_MACRO.sub(lambda x: symbol(x.group(1)) or x.group(0), body)
        ok, table = (_SUP_OK, _SUP) if m.group(1) == "^" else (_SUB_OK, _SUB)
        if body and all(c in ok for c in body):
            return body.translate(table)
        return m.group(1) + (body if len(body) == 1 else f"({body})")

    s = _SCRIPT.sub(script, s)
    s = _MATH_MACRO.sub(lambda m: (symbol(m.group(1)) or m.group(1)) + (" " if m.group(0)[-1].isspace() else ""), s)
    s = s.replace("{", "").replace("}", "")
    return " ".join(s.split()) if s.strip() else s


def _text_of(nodes: tuple[Node, ...] | list[Node]) -> str:
    out = []
    for n in nodes:
        if n.kind == "text":
            out.append(n.text)
        elif n.kind == "math":
            out.append(math_text(n.text))
        else:
            out.append(_text_of(n.children))
    return "".join(out)


@lru_cache(maxsize=8192)
def to_text(src: str | None) -> str:
    """`src` as plain Unicode text for feeds, plain-text email and `<title>` (not escaped: the caller's
    output format escapes it, e.g. feedgen for XML, Jinja for HTML)."""
    if not src:
        return ""
    return _text_of(parse(src))


# -- HTML -----------------------------------------------------------------------------------------

MATHML_TAGS = {"math", "mi", "mn", "mo", "ms", "mtext", "mspace", "mrow", "mfrac", "msqrt", "mroot", "mstyle",
               "merror", "mpadded", "mphantom", "msub", "msup", "msubsup", "munder", "mover", "munderover",
               "mtable", "mtr", "mtd", "semantics", "menclose"}
MATHML_ATTRS = {"display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "accent",
                "accentunder", "linethickness", "columnalign", "rowalign", "rowspacing", "columnspacing",
                "width", "height", "depth", "displaystyle", "scriptlevel", "form", "minsize", "maxsize",
                "movablelimits", "largeop", "symmetric", "notation", "columnlines", "rowlines", "frame"}
_ATTR_VALUE = re.compile(r"[\w.#%+\- ]{0,40}")
_HTML_TAG = {"em": ("<em>", "</em>"), "strong": ("<strong>", "</strong>"), "code": ("<code>", "</code>"),
             "sup": ("<sup>", "</sup>"), "sub": ("<sub>", "</sub>"), "u": ("<u>", "</u>"),
             "smallcaps": ('<span class="smallcaps">', "</span>"), "": ("", "")}


def _rebuild(el: ET.Element, out: list[str]) -> None:
    tag = el.tag.rsplit("}", 1)[-1]
    keep = tag in MATHML_TAGS
    # a function name (`\\log`, `\\max`) is a multi-letter <mi>: MathML Core puts no space around it
    # ("nlogn"), TeX a thin one
    space = keep and tag == "mi" and el.text is not None and len(el.text) > 1 and el.text.isalpha()
    if space:
        out.append('<mspace width="0.17em"></mspace>')
    if keep:
        attrs = "".join(f' {k}="{escape(v)}"' for k, v in sorted(el.attrib.items())
                        if k in MATHML_ATTRS and _ATTR_VALUE.fullmatch(v))
        out.append(f"<{tag}{attrs}>")
    if el.text:
        out.append(str(escape(el.text)))
    for child in el:
        _rebuild(child, out)
        if child.tail:
            out.append(str(escape(child.tail)))
    if keep:
        out.append(f"</{tag}>")
    if space:
        out.append('<mspace width="0.17em"></mspace>')


@lru_cache(maxsize=4096)
def mathml(src: str, display: str = "inline") -> Markup | None:
    """MathML Core for a formula, rebuilt from an allow-list; None when latex2mathml cannot read it."""
    import latex2mathml.converter

    try:
        raw = latex2mathml.converter.convert(src, display=display)
        root = ET.fromstring(raw)
    except Exception:  # latex2mathml raises many kinds on malformed input; the caller falls back to text
        return None
    out: list[str] = []
    _rebuild(root, out)
    return Markup("".join(out))


TextHook = Callable[[str], Markup]


def _html_of(nodes: tuple[Node, ...] | list[Node], hook: TextHook, math: str, out: list[str]) -> None:
    for n in nodes:
        if n.kind == "text":
            out.append(str(hook(n.text)))
        elif n.kind == "math":
            ml = mathml(n.text, n.tag) if math == "mathml" else None
            if ml is not None:
                out.append(str(ml))
            else:
                out.append(f'<span class="math">{escape(math_text(n.text))}</span>')
        elif n.kind == "link":
            url = safe_url(n.text)
            inner: list[str] = []
            _html_of(n.children, hook, math, inner)
            if url:
                out.append(f'<a href="{escape(url)}" rel="nofollow noopener">{"".join(inner)}</a>')
            else:
                out.extend(inner)
        else:
            open_, close = _HTML_TAG.get(n.tag, ("", ""))
            out.append(open_)
            _html_of(n.children, hook, math, out)
            out.append(close)


def to_html(src: str | None, hook: TextHook | None = None, math: str = "mathml") -> Markup:
    """`src` as safe HTML: text escaped (or passed to `hook`, which must escape), math as sanitised MathML
    (`math="mathml"`, for browsers) or as Unicode text (`math="text"`, for email clients, which drop MathML)."""
    if not src:
        return Markup("")
    if hook is None and math == "mathml":
        return _cached_html(src)
    out: list[str] = []
    _html_of(parse(src), hook or escape, math, out)
    return Markup("".join(out))


@lru_cache(maxsize=8192)
def _cached_html(src: str) -> Markup:
    out: list[str] = []
    _html_of(parse(src), escape, "mathml", out)
    return Markup("".join(out))
