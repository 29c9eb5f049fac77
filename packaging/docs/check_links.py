#!/usr/bin/env python3
"""Checks every link inside a tree of generated HTML pages: the page a
relative href names exists, and so does the id its #fragment names.
External links (http:, https:, mailto:) are not followed (no network in a
test). Prints each broken link and exits 1 if there is any.

Usage: check_links.py DIR
"""
from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, Set, Tuple
from urllib.parse import unquote, urlsplit


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: Set[str] = set()
        self.hrefs: List[str] = []

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, "str | None"]]) -> None:
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)
            if key == "href" and value and tag in ("a", "link"):
                self.hrefs.append(value)


def main() -> int:
    root = Path(sys.argv[1]).resolve()
    pages: Dict[Path, Page] = {}
    for path in root.rglob("*.html"):
        page = Page()
        page.feed(path.read_text(encoding="utf-8", errors="replace"))
        pages[path.resolve()] = page
    broken = []
    checked = 0
    for path, page in pages.items():
        for href in page.hrefs:
            parts = urlsplit(href)
            if parts.scheme or href.startswith("//"):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            if not target.exists():
                broken.append(f"{path.relative_to(root)}: {href} (no such file)")
            elif parts.fragment and target in pages and unquote(parts.fragment) not in pages[target].ids:
                broken.append(f"{path.relative_to(root)}: {href} (no such anchor)")
    for b in broken:
        print(f"check_links: broken: {b}", file=sys.stderr)
    print(f"check_links: {len(pages)} pages, {checked} local links, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
