"""Server-rendered pages: plain HTML with inline CSS, no scripts, no external assets (no web fonts:
the system font stack), so they work behind a proxy that blocks everything but the bot itself.

Colours meet WCAG AA contrast on their backgrounds; layouts fit a 320 px wide phone (wide tables
scroll inside their own box, the chart scales with its viewBox and gets a larger font on phones).
"""

from __future__ import annotations

from html import escape

CSS = """
:root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d1c1d;background:#f4f4f2;-webkit-text-size-adjust:100%}
*{box-sizing:border-box}
body{margin:0;line-height:1.5}
main{max-width:60rem;margin:0 auto;padding:1rem 1rem 3rem}
h1{font-size:1.5rem;line-height:1.25;margin:.15rem 0 .4rem}
h2{font-size:1.1rem;margin:0 0 .5rem}
p{margin:.5rem 0}
a{color:#0b57d0}
a:focus-visible,summary:focus-visible,.table-wrap:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}
code{white-space:nowrap;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;background:#efefed;padding:.05rem .3rem;border-radius:4px}
.kicker{margin:0;color:#454245;font-size:.85rem;font-weight:600;letter-spacing:.02em;text-transform:uppercase}
.meta{color:#454245;margin:.25rem 0 .75rem}
.note,.muted{color:#545354}.note{font-size:.9rem}
.top,.card{background:#fff;border:1px solid #deded9;border-radius:12px;padding:1rem 1.1rem;margin:0 0 1rem}
.badge{display:inline-block;padding:.05rem .55rem;border-radius:1rem;font-size:.85rem;font-weight:600;background:#ececea;color:#3d3c3d;vertical-align:.05em}
.badge.live{background:#ddf3e4;color:#0a5c2b}.badge.draft{background:#fff1cc;color:#6b4400}
.serving{margin:.5rem 0;padding:.6rem .8rem;border-radius:8px;background:#eef4fc;border-left:4px solid #0b62b8}
.serving.off{background:#f4f4f2;border-left-color:#767676}
.verdict{margin:.25rem 0}
.health{margin:.35rem 0;padding:.45rem .7rem;border-radius:8px;border-left:4px solid #8a5a00;background:#fff6e0}
.health.block{border-left-color:#b3261e;background:#fdecea}
.metrics{margin:.4rem 0;padding-left:1.2rem}
.dot{display:inline-block;width:.6rem;height:.6rem;border-radius:50%;background:#157a3c;margin-right:.45rem;vertical-align:.05em}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:.6rem;margin:.75rem 0}
.tile{border:1px solid #e4e4e0;border-radius:10px;padding:.55rem .75rem}
.tile dt{font-size:.85rem;color:#454245}.tile dd{margin:0}.tile .big{font-size:1.45rem;font-weight:700;line-height:1.3}
.actions{margin:.75rem 0 0}
.button{display:inline-block;padding:.5rem .9rem;border-radius:8px;background:#0b57d0;color:#fff;font-weight:600;text-decoration:none}
.button:hover{background:#0842a0}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.figure{margin:.5rem 0 0}
.chart{display:block;width:100%;max-width:46rem;height:auto}
.chart text{font-size:11.5px;font-family:inherit}
.legend{list-style:none;margin:.5rem 0 0;padding:0;display:flex;flex-wrap:wrap;gap:.35rem 1.25rem;font-size:.9rem}
.legend li{display:flex;align-items:center;gap:.45rem}
.legend .note{display:block;font-size:.8rem}
.swatch{flex:none}
details{margin:.75rem 0 0}
summary{cursor:pointer;color:#0b57d0;font-weight:600}
.table-wrap{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.5rem 0 1rem}
table{border-collapse:collapse;width:100%;min-width:36rem;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:700;padding:.25rem 0 .4rem}
caption span{font-weight:400;color:#454245}
th,td{text-align:right;padding:.45rem .6rem;border-bottom:1px solid #e2e2de;white-space:nowrap}
tbody th[scope=row]{white-space:normal;min-width:9rem}
.scroll-hint{display:none}
th:first-child,td:first-child{text-align:left}
thead th{background:#f4f4f2;font-size:.85rem;color:#3d3c3d}
tfoot th,tfoot td{font-weight:600;border-bottom:0;border-top:2px solid #d4d4cf}
.vname{font-weight:600}.vid{display:block;font-weight:400;font-size:.8rem;color:#545354}
.tag{display:inline-block;margin-top:.1rem;padding:0 .4rem;border-radius:.6rem;font-size:.75rem;font-weight:600;background:#ececea;color:#3d3c3d}
.tag.served{background:#dbe8fb;color:#0842a0}
.pos{color:#0a6b2e}.neg{color:#a4161a}.zero{color:#454245}
.error{border-left:4px solid #a4161a;padding:.5rem 1rem;background:#fdf2f2}
footer{margin-top:1rem}
@media (max-width:760px){.chart text{font-size:14px}}
@media (max-width:600px){
 main{padding:.6rem .6rem 2rem}
 .top,.card{padding:.8rem .8rem}
 h1{font-size:1.3rem}
 .chart text{font-size:21px}
 .tiles{grid-template-columns:1fr;gap:0;border:1px solid #e4e4e0;border-radius:10px}
 .tile{display:grid;grid-template-columns:1fr auto;align-items:baseline;column-gap:.75rem;border:0;border-radius:0;padding:.4rem .65rem}
 .tile+.tile{border-top:1px solid #e4e4e0}
 .tile dt{grid-column:1;grid-row:1}
 .tile .big{font-size:1.15rem;grid-column:2;grid-row:1 / span 2;text-align:right}
 .tile dd.note{grid-column:1;grid-row:2;font-size:.8rem}
 table{min-width:30rem;font-size:.9rem}
 th,td{padding:.4rem .45rem}
 .scroll-hint{display:block;font-size:.8rem;color:#545354;margin:-.6rem 0 .8rem}
}
"""


def page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex"><meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>{body}</body></html>"
    )


def message_page(title: str, sentence: str) -> str:
    return page(
        title, f'<main><div class="card"><h1>{escape(title)}</h1><p class="error">{escape(sentence)}</p></div></main>'
    )
