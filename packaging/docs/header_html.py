#!/usr/bin/env python3
"""Writes the C API reference (one HTML page) from include/w3sock.h.

The header is the contract and is written for people: each declaration is
preceded by a plain C comment that explains it. This page lists every
declaration (function, type, macro, enum constant) with that comment, in the
header's order, and links every name that the header declares wherever it is
mentioned. A name that looks like the API's (w3s_..., W3S_...) but that the
header does not declare is a broken reference: it is printed and the script
exits 1 (`make docs`, part of `make test`). A name followed by `*`
(W3S_E*, *_sized) is a pattern and one in quotes ("W3S_UNKNOWN") a string's
value, not a reference.

(Doxygen, C's usual tool, reads only /** */ comments and needs LLVM from
apt; the header's comments are plain /* */.)

Usage: header_html.py include/w3sock.h OUT.html VERSION
"""
from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import Dict, List, Tuple

NAME = re.compile(r"\b(w3s_[a-z0-9_]+|W3S_[A-Z0-9_]+)\b(\*?)")


def items(text: str) -> List[Tuple[str, str, List[str]]]:
    """(comment, declaration, names declared) per paragraph of the header
    (paragraphs are separated by blank lines outside comments): its leading
    comment, then the code after it."""
    out: List[Tuple[str, str, List[str]]] = []
    paragraphs, current, in_comment = [], [], False
    for line in text.splitlines():
        if not line.strip() and not in_comment:
            if current:
                paragraphs.append("\n".join(current))
            current = []
            continue
        current.append(line)
        # a comment opened on this line and not closed yet
        opens, closes = line.rfind("/*"), line.rfind("*/")
        if opens > closes:
            in_comment = True
        elif closes > opens or (closes >= 0 and opens < 0):
            in_comment = False
    if current:
        paragraphs.append("\n".join(current))
    for para in paragraphs:
        m = re.match(r"\s*/\*(.*?)\*/[ \t]*\n?", para, re.S)
        comment, decl = "", para
        if m:
            comment = re.sub(r"^[ \t]*\* ?", "", m.group(1), flags=re.M).strip()
            decl = para[m.end():]
        decl = decl.strip("\n")
        if decl.startswith(("#ifndef W3SOCK_H", "#endif", "#ifdef __cplusplus", "}", "#include",
                            'extern "C"')):
            decl = ""
        out.append((comment, decl, declared(decl)))
    return out


def declared(decl: str) -> List[str]:
    names = re.findall(r"^#define\s+(\w+)", decl, re.M)
    names += re.findall(r"\b(w3s_\w+)\s*\(", decl)
    names += re.findall(r"^\}\s*(\w+)\s*;", decl, re.M)
    names += re.findall(r"^\s+(W3S_[A-Z0-9_]+)\s*=", decl, re.M)
    names += re.findall(r"typedef\s+[^;{]*\(\s*\*?\s*(w3s_\w+)\)", decl)
    names += re.findall(r"typedef\s+(?:struct|enum)\s+(\w+)\s*\{", decl)
    seen: Dict[str, None] = {}
    for n in names:
        seen.setdefault(n, None)
    return list(seen)


def linked(text: str, known: Dict[str, str], broken: List[str], where: str) -> str:
    def one(m: re.Match) -> str:
        name, star = m.group(1), m.group(2)
        if name in known:
            return f'<a href="#{known[name]}">{name}</a>{star}'
        quoted = m.start() > 0 and m.string[m.start() - 1] == '"'  # a string's value
        if not star and not quoted and not name.endswith("_"):
            broken.append(f"{where}: {name}")
        return name + star
    return NAME.sub(one, html.escape(text, quote=False))


def main() -> int:
    header, out, version = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    parts = items(header.read_text())
    known: Dict[str, str] = {}
    for _, _, names in parts:
        for n in names:
            known.setdefault(n, names[0])
    broken: List[str] = []
    body, toc = [], []
    for comment, decl, names in parts:
        where = names[0] if names else comment.split("\n")[0][:40]
        if names:
            toc.append(f'<li><a href="#{names[0]}"><code>{html.escape(names[0])}</code></a></li>')
            body.append(f'<section id="{names[0]}"><h3><code>{", ".join(names)}</code></h3>'
                        f'<pre class="decl">{linked(decl, known, broken, where)}</pre>'
                        f'<pre class="doc">{linked(comment, known, broken, where)}</pre></section>')
        else:
            body.append(f'<section class="prose"><pre class="doc">{linked(comment, known, broken, where)}</pre></section>')
    title = f"w3sock {version}: C API (include/w3sock.h)"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>"
        "body{font-family:sans-serif;max-width:60em;margin:auto}pre{white-space:pre-wrap}"
        "pre.decl{background:#f4f4f4;padding:.5em}nav ul{columns:3;font-size:.85em}</style></head>"
        f"<body><h1>{title}</h1><nav><ul>{''.join(toc)}</ul></nav>{''.join(body)}</body></html>\n")
    for b in broken:
        print(f"header_html: broken reference in {b}", file=sys.stderr)
    print(f"header_html: {out}: {len(known)} names, {len(broken)} broken references")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
