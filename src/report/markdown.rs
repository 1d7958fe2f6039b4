//! `report.md`: the page in Markdown; figures link the SVG files published beside it.

use super::page::{
    Block, Headline, LEGEND, Line, Page, Span, Table, Tone, figure_path, outcome_word,
};

fn spans(line: &Line) -> String {
    line.iter()
        .map(|s| match s {
            Span::Text(t) => cell_safe(t),
            Span::Code(t) => format!("`{t}`"),
            Span::Strong(t) => format!("**{t}**"),
            Span::Em(t) => format!("*{t}*"),
        })
        .collect()
}

/// Text that stays inside its table cell.
fn cell_safe(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn render(page: &Page) -> String {
    let mut out = String::new();
    let (mut tables, mut figures) = (0, 0);
    for block in &page.blocks {
        match block {
            Block::Heading { level, text } => {
                out.push_str(&format!("{} {text}\n\n", "#".repeat(*level as usize)));
            }
            Block::Para(line) => out.push_str(&format!("{}\n\n", spans(line))),
            Block::List(items) => {
                for item in items {
                    out.push_str(&format!("- {}\n", spans(item)));
                }
                out.push('\n');
            }
            Block::Callout { tone, lines } => {
                let mark = match tone {
                    Tone::Note | Tone::Warning => "",
                    Tone::Flag => "⚑ ",
                };
                for (k, line) in lines.iter().enumerate() {
                    let bullet = if k == 0 { "" } else { "- " };
                    out.push_str(&format!("> {mark}{bullet}{}\n", spans(line)));
                }
                out.push('\n');
            }
            Block::Legend => {
                let items: Vec<String> = LEGEND
                    .iter()
                    .map(|(o, means)| format!("**{}**: {means}", outcome_word(*o)))
                    .collect();
                out.push_str(&format!("{}.\n\n", items.join("; ")));
            }
            Block::Headline(h) => headline(h, &mut out),
            Block::Table(t) => {
                tables += 1;
                table(tables, t, &mut out);
            }
            Block::Figure(f) => {
                figures += 1;
                out.push_str(&format!(
                    "![Figure {figures}]({})\n\n*Figure {figures}. {}*\n\n",
                    figure_path(&f.name),
                    f.caption
                ));
            }
        }
    }
    out
}

fn headline(h: &Headline, out: &mut String) {
    out.push_str(&format!(
        "### {} — {}\n\n*{}*\n\n**{}**\n\n",
        h.hypothesis,
        outcome_word(h.outcome),
        h.question,
        h.reason
    ));
    if !h.evidence.is_empty() {
        out.push_str("Numbers the rules read:\n\n");
        for e in &h.evidence {
            out.push_str(&format!("- {}\n", spans(e)));
        }
        out.push('\n');
    }
    for f in &h.flags {
        out.push_str(&format!("> ⚑ {}\n>\n", spans(f)));
    }
    if !h.flags.is_empty() {
        out.truncate(out.len() - 2);
        out.push('\n');
    }
}

fn table(number: usize, t: &Table, out: &mut String) {
    out.push_str(&format!("*Table {number}. {}*\n\n", t.caption));
    out.push_str(&format!("| {} |\n", t.header.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(t.header.len())));
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(spans).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
}
