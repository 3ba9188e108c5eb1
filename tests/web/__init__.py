"""Tests of the bot's own web pages. `PageDom` reads a page's HTML the way the tests need it."""

from __future__ import annotations

from html.parser import HTMLParser


class PageDom(HTMLParser):
    """Elements by class, attributes of every element, and the text of each table's rows by table id."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._text: list[str] = []
        self._in_style = False
        self.feed(html)
        self.close()
        self.text = " ".join(" ".join(self._text).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self._in_style = tag == "style"
        self.elements.append((tag, a))
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join(" ".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._table is not None and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._in_style:
            return
        self._text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def with_class(self, name: str) -> list[tuple[str, dict[str, str]]]:
        return [(t, a) for t, a in self.elements if name in a.get("class", "").split()]

    def rows(self, table_id: str) -> dict[str, list[str]]:
        """Body rows of a table keyed by their first cell's text (header row left out)."""
        rows = self.tables[table_id][1:]
        return {r[0]: r[1:] for r in rows}

    def links(self) -> list[str]:
        return [a[name] for _, a in self.elements for name in ("src", "href") if name in a]
