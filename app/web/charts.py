"""Charts drawn on the server as SVG by pygal, embedded in the page: no chart library in the
browser, no asset fetched at run time.

pygal adds an inline `<script>` (its tooltips' configuration) that the pages' Content Security
Policy forbids, and a hidden tooltip with a `style` attribute: both are removed from its element
tree (`render_tree`, public API), and its `<style>` elements carry the response's nonce. Colours
are the Okabe–Ito palette, told apart by people with colour-blindness; every chart has a table
beside it with the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from xml.etree import ElementTree

import pygal
from markupsafe import Markup
from pygal.style import Style

# Okabe & Ito's palette; each tool's provisional days take the same hue, lighter.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
LIGHTER = ("#7FB8D8", "#F2CF7F", "#7FCEB9", "#E5BCD3", "#AAD9F4", "#EAAE7F", "#F7F1A1", "#7F7F7F")


def _style(colors: Sequence[str]) -> Style:
    return Style(
        colors=tuple(colors), background="transparent", plot_background="transparent",
        font_family="system-ui, sans-serif", label_font_size=12, legend_font_size=13,
        major_label_font_size=12, title_font_size=15, opacity="1", opacity_hover="1",
    )  # fmt: skip


def _markup(chart: pygal.graph.graph.Graph, title: str, nonce: str) -> Markup:
    tree = chart.render_tree()
    for parent in tree.iter():
        for child in list(parent):
            if not isinstance(child.tag, str) or child.tag in ("script", "desc"):
                parent.remove(child)  # comments, the script, the tooltips' texts
            elif child.tag == "style":
                child.set("nonce", nonce)
            child.attrib.pop("style", None)
    tree.set("role", "img")
    tree.set("aria-label", title)
    label = ElementTree.Element("title")
    label.text = title
    tree.insert(0, label)
    return Markup(ElementTree.tostring(tree, encoding="unicode"))


def _config(colors: Sequence[str], title: str) -> dict[str, object]:
    return {
        "js": [], "disable_xml_declaration": True, "style": _style(colors), "width": 900,
        "height": 420, "legend_at_bottom": True, "legend_at_bottom_columns": 4, "title": title,
        "show_minor_x_labels": False, "truncate_legend": 28, "margin": 12, "margin_bottom": 24,
    }  # fmt: skip


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Decimal | int | None]
    hue: int  # the palette's index: a tool's final and provisional series share it
    provisional: bool = False


def stacked_bars(title: str, labels: Sequence[str], series: Sequence[Series], nonce: str) -> Markup:
    """Bars of `labels`, each stacking the series' values; provisional series lighter.
    (Values become floats here only to be drawn; every figure shown as text stays exact.)"""
    colors = [
        (LIGHTER if item.provisional else PALETTE)[item.hue % len(PALETTE)] for item in series
    ]
    chart = pygal.StackedBar(**_config(colors, title))
    chart.x_labels = list(labels)
    chart.x_labels_major = list(labels[::7])
    for item in series:
        chart.add(item.name, [None if v is None else float(v) for v in item.values])
    return _markup(chart, title, nonce)


def lines(
    title: str, labels: Sequence[str], series: Mapping[str, Sequence[Decimal | int | None]],
    nonce: str,
) -> Markup:  # fmt: skip
    chart = pygal.Line(**_config(PALETTE, title), show_dots=True, dots_size=2, fill=False)
    chart.x_labels = list(labels)
    chart.x_labels_major = list(labels[:: max(1, len(labels) // 8)])
    for name, values in series.items():
        chart.add(name, [None if v is None else float(v) for v in values])
    return _markup(chart, title, nonce)
