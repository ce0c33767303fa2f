"""Assemble figures into ONE self-contained HTML page: plotly.js inlined once, no network requests.

The embedding hover panel: the page carries a sprite sheet (the thumbnails of a budget of real images --
chosen, centers, extremes, a sample -- tiled into one PNG data URI) and a few lines of script; hovering
or clicking a point of a figure registered with :meth:`Page.figure_with_hover_images` shows that point's
image (its ``customdata[0]`` is the global index), class and score beside the figure, or says that the
file keeps no thumbnail of it.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

import numpy as np
import plotly
import plotly.graph_objects as go
import plotly.io as pio

from dd_explore.viz.images import png_data_uri, tile

PLOTLY_CONFIG = {"displaylogo": False, "responsive": False, "toImageButtonOptions": {"format": "png"}}

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 0 18px 40px; color: #222; }
h1 { font-size: 1.5em; margin: 18px 0 4px; } h2 { font-size: 1.25em; margin: 28px 0 4px; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.02em; margin: 16px 0 2px; }
p.how { margin: 2px 0 8px; color: #444; max-width: 70em; } p.how b { color: #222; }
p.note { color: #8a5a00; background: #fff7e6; padding: 4px 8px; border-radius: 4px; }
table.config { border-collapse: collapse; font-size: 0.88em; margin: 6px 0; }
table.config td { border: 1px solid #e3e3e3; padding: 2px 8px; vertical-align: top; }
table.config td:first-child { color: #555; white-space: nowrap; }
.acc { font-size: 1.1em; margin: 6px 0; } nav a { margin-right: 12px; }
.row { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
div.figure { margin: 4px 0 10px; }
.hoverpanel { width: 150px; min-height: 180px; border: 1px solid #ddd; border-radius: 4px; padding: 6px; font-size: 0.85em; }
.hoverpanel .sprite { width: 112px; height: 112px; margin: 4px auto; image-rendering: pixelated; background-repeat: no-repeat;
                      border: 1px solid #eee; }
"""

HOVER_JS = """
(function () {
  function bind() {
    var sheets = JSON.parse(document.getElementById('dd-sprites').textContent);
    Object.keys(sheets.figures).forEach(function (figId) {
      var gd = document.getElementById(figId), panel = document.getElementById(figId + '-panel');
      var sp = sheets.sprites[sheets.figures[figId]];
      if (!gd || !panel || !sp || !gd.on) { return; }
      var box = panel.querySelector('.sprite'), cap = panel.querySelector('.caption');
      var scale = box.clientWidth / sp.w;
      box.style.backgroundSize = (sp.cols * sp.w * scale) + 'px auto';
      box.style.height = (sp.h * scale) + 'px';
      function show(ev) {
        if (!box.style.backgroundImage) { box.style.backgroundImage = 'url(' + sp.uri + ')'; }
        var p = ev.points && ev.points[0]; if (!p || !p.customdata) { return; }
        var idx = Math.round(p.customdata[0]), slot = sp.slots ? sp.slots[String(idx)] : idx;
        if (slot === undefined) { box.style.backgroundPosition = '200px 200px';
          cap.textContent = 'index ' + idx + ': no thumbnail kept in this file (' + sp.kept + ' of ' + sp.total +
            ' points have one)'; return; }
        var r = Math.floor(slot / sp.cols), c = slot % sp.cols;
        box.style.backgroundPosition = (-c * sp.w * scale) + 'px ' + (-r * sp.h * scale) + 'px';
        var v = p.customdata[2];
        cap.textContent = 'index ' + idx + ', class ' + (sp.classes ? sp.classes[Math.round(p.customdata[1])] : p.customdata[1]) +
          (v === null || v === undefined || isNaN(v) ? '' : ', ' + sp.value + ' ' + Number(v).toPrecision(4));
      }
      gd.on('plotly_hover', show); gd.on('plotly_click', show);
    });
  }
  if (document.readyState === 'complete') { bind(); } else { window.addEventListener('load', bind); }
})();
"""


@dataclass(frozen=True)
class Sprite:
    """Images tiled into one PNG: cell ``w`` x ``h`` px, ``cols`` per row; ``slots`` maps global index ->
    cell (None: index i is cell i)."""

    uri: str
    w: int
    h: int
    cols: int
    slots: dict | None = None
    classes: tuple[str, ...] | None = None
    value: str = "score"
    total: int | None = None

    def to_dict(self) -> dict:
        kept = len(self.slots) if self.slots is not None else None
        return {"uri": self.uri, "w": self.w, "h": self.h, "cols": self.cols, "slots": self.slots,
                "classes": list(self.classes) if self.classes is not None else None, "value": self.value,
                "kept": kept, "total": self.total if self.total is not None else kept}


def make_sprite(pixels: np.ndarray, indices=None, classes=None, value: str = "score", total: int | None = None) -> Sprite:
    """A sprite of uint8 pixels (n, H, W, C); ``indices`` (n,): the global index of each row (default 0..n-1);
    ``total``: how many points the figures have (the hover text of a point without a thumbnail says so)."""
    n, h, w, _ = pixels.shape
    cols = max(1, int(np.ceil(np.sqrt(n))))
    slots = None if indices is None else {str(int(i)): k for k, i in enumerate(indices)}
    return Sprite(png_data_uri(tile(pixels, cols, pad=0)), int(w), int(h), cols, slots,
                  tuple(classes) if classes is not None else None, value, total)


@dataclass
class Page:
    """An HTML page under construction: header, sections of figures with a "how to read" line each."""

    title: str
    parts: list[str] = field(default_factory=list)
    nav: list[tuple[str, str]] = field(default_factory=list)
    sprites: dict[str, dict] = field(default_factory=dict)
    hover_figures: dict[str, str] = field(default_factory=dict)
    _count: int = 0

    def raw(self, markup: str) -> None:
        self.parts.append(markup)

    def section(self, anchor: str, heading: str, how: str | None = None) -> None:
        self.nav.append((anchor, heading))
        self.parts.append(f'<h2 id="{html.escape(anchor)}">{html.escape(heading)}</h2>')
        if how:
            self.parts.append(f'<p class="how"><b>How to read:</b> {html.escape(how)}</p>')

    def subheading(self, text: str, how: str | None = None) -> None:
        self.parts.append(f"<h3>{html.escape(text)}</h3>")
        if how:
            self.parts.append(f'<p class="how">{html.escape(how)}</p>')

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{html.escape(text)}</p>')

    def figure_html(self, fig: go.Figure, div_id: str | None = None) -> str:
        """The figure's div and script, in a box of the figure's size (ids get a "fig-" prefix)."""
        self._count += 1
        div_id = f"fig-{div_id or self._count}"
        w, h = int(fig.layout.width or 720), int(fig.layout.height or 450)
        inner = pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=div_id, config=PLOTLY_CONFIG,
                            auto_play=False, default_width=f"{w}px", default_height=f"{h}px")
        return f'<div class="figure" style="width:{w}px;height:{h}px">{inner}</div>'


    def figure(self, fig: go.Figure, div_id: str | None = None) -> None:
        self.parts.append(self.figure_html(fig, div_id))

    def figure_with_hover_images(self, fig: go.Figure, div_id: str, sprite_key: str, sprite: Sprite | None) -> None:
        """The figure with an image panel beside it that follows hover/click (needs ``customdata[0]`` = index)."""
        if sprite is None:
            self.figure(fig, div_id)
            return
        self.sprites.setdefault(sprite_key, sprite.to_dict())
        self.hover_figures[f"fig-{div_id}"] = sprite_key
        panel = (f'<div class="hoverpanel" id="fig-{div_id}-panel"><div>hover or click a point</div>'
                 f'<div class="sprite"></div><div class="caption"></div></div>')
        self.parts.append(f'<div class="row">{self.figure_html(fig, div_id)}{panel}</div>')

    def render(self, header: str = "") -> str:
        nav = " ".join(f'<a href="#{html.escape(a)}">{html.escape(h)}</a>' for a, h in self.nav)
        sprite_json = json.dumps({"sprites": self.sprites, "figures": self.hover_figures}).replace("</", "<\\/")
        return "\n".join([
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(self.title)}</title>",
            f"<style>{CSS}</style>",
            "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>",
            f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>',
            "</head><body>",
            header,
            f"<nav>{nav}</nav>" if nav else "",
            *self.parts,
            f'<script type="application/json" id="dd-sprites">{sprite_json}</script>',
            f"<script>{HOVER_JS}</script>",
            "</body></html>",
        ])
