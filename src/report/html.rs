//! `report.html`: the page as one self-contained file (no scripts, no external files), the figures'
//! SVG inline.

use super::page::{Block, Headline, LEGEND, Line, Page, Span, Table, Tone, outcome_word};
use crate::probe::verdict::Decision;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Escaped text with `code` in backticks as `<code>`.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (k, part) in s.split('`').enumerate() {
        if k % 2 == 1 {
            out.push_str(&format!("<code>{}</code>", esc(part)));
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}

fn spans(line: &Line) -> String {
    line.iter()
        .map(|s| match s {
            Span::Text(t) => inline(t),
            Span::Code(t) => format!("<code>{}</code>", esc(t)),
            Span::Strong(t) => format!("<b>{}</b>", esc(t)),
            Span::Em(t) => format!("<i>{}</i>", esc(t)),
        })
        .collect()
}

/// Neutral verdict colours: a confirmed confounder is a finding, not a failure.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.3em 0 1.2em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}caption{caption-side:top;text-align:left;font-style:italic;padding:.3em 0}
.verdict{border-left:8px solid #999;padding:.4em 1em;margin:1em 0;background:#fafafa}
.confirmed{border-color:#5b4b8a}.refuted{border-color:#2a7f9e}.inconclusive{border-color:#a0a0a0}
.badge{display:inline-block;padding:.05em .5em;border-radius:3px;color:#fff;font-weight:bold;font-size:.9em}
.badge.confirmed{background:#5b4b8a}.badge.refuted{background:#2a7f9e}.badge.inconclusive{background:#808080}
.reason{font-size:1.1em;font-weight:600}.legend{font-size:.9em;color:#444}
.flag,.warn,.note{padding:.4em 1em;margin:.5em 0;border:1px solid #d9b44a;background:#fff8e1}
.note{border-color:#bbb;background:#f6f6f6}figure{margin:1em 0}figcaption{font-style:italic;max-width:900px}
svg{max-width:100%;height:auto}code{background:#f3f3f3;padding:0 .2em}";

fn class(o: Decision) -> &'static str {
    match o {
        Decision::Confirmed => "confirmed",
        Decision::Refuted => "refuted",
        Decision::Inconclusive => "inconclusive",
    }
}

pub fn render(page: &Page) -> String {
    let mut out = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(&page.title)
    );
    let (mut tables, mut figures) = (0, 0);
    for block in &page.blocks {
        match block {
            Block::Heading { level, text } => {
                out.push_str(&format!("<h{level}>{}</h{level}>", inline(text)));
            }
            Block::Para(line) => out.push_str(&format!("<p>{}</p>", spans(line))),
            Block::List(items) => {
                out.push_str("<ul>");
                for item in items {
                    out.push_str(&format!("<li>{}</li>", spans(item)));
                }
                out.push_str("</ul>");
            }
            Block::Callout { tone, lines } => {
                let class = match tone {
                    Tone::Note => "note",
                    Tone::Warning => "warn",
                    Tone::Flag => "flag",
                };
                let (first, rest) = lines
                    .split_first()
                    .map_or((String::new(), &[][..]), |(f, r)| (spans(f), r));
                out.push_str(&format!("<div class=\"{class}\">{first}"));
                if !rest.is_empty() {
                    out.push_str("<ul>");
                    for line in rest {
                        out.push_str(&format!("<li>{}</li>", spans(line)));
                    }
                    out.push_str("</ul>");
                }
                out.push_str("</div>");
            }
            Block::Legend => {
                let items: Vec<String> = LEGEND
                    .iter()
                    .map(|(o, means)| {
                        format!(
                            "<span class=\"badge {}\">{}</span> {}",
                            class(*o),
                            outcome_word(*o),
                            esc(means)
                        )
                    })
                    .collect();
                out.push_str(&format!("<p class=\"legend\">{}</p>", items.join(" · ")));
            }
            Block::Headline(h) => headline(h, &mut out),
            Block::Table(t) => {
                tables += 1;
                table(tables, t, &mut out);
            }
            Block::Figure(f) => {
                figures += 1;
                out.push_str(&format!(
                    "<figure id=\"{}\">{}<figcaption>Figure {figures}. {}</figcaption></figure>",
                    esc(&f.name),
                    strip_prolog(&f.svg),
                    inline(&f.caption)
                ));
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// An SVG document without its XML declaration, to sit inside HTML.
fn strip_prolog(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(k) => &svg[k..],
        None => svg,
    }
}

fn headline(h: &Headline, out: &mut String) {
    let c = class(h.outcome);
    out.push_str(&format!(
        "<div class=\"verdict {c}\"><h3>{} <span class=\"badge {c}\">{}</span></h3><p><i>{}</i></p><p class=\"reason\">{}</p>",
        esc(&h.hypothesis),
        outcome_word(h.outcome),
        esc(&h.question),
        inline(&h.reason)
    ));
    if !h.evidence.is_empty() {
        out.push_str("<p>Numbers the rules read:</p><ul>");
        for e in &h.evidence {
            out.push_str(&format!("<li>{}</li>", spans(e)));
        }
        out.push_str("</ul>");
    }
    for f in &h.flags {
        out.push_str(&format!("<div class=\"flag\">⚑ {}</div>", spans(f)));
    }
    out.push_str("</div>");
}

fn table(number: usize, t: &Table, out: &mut String) {
    out.push_str(&format!(
        "<table><caption>Table {number}. {}</caption><tr>",
        inline(&t.caption)
    ));
    for h in &t.header {
        out.push_str(&format!("<th>{}</th>", esc(h)));
    }
    out.push_str("</tr>");
    for row in &t.rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(&format!("<td>{}</td>", spans(cell)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}
