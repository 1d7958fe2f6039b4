//! The report as a page of blocks: what it says, once. `build` fills a page from a `Document`;
//! `markdown` and `html` render the same page, so report.md and report.html show the same facts, and the
//! figures are the same SVG files (embedded in the HTML, linked from the Markdown).

use crate::probe::verdict::Decision;

/// A run of text with one emphasis.
#[derive(Clone, Debug, PartialEq)]
pub enum Span {
    Text(String),
    Code(String),
    Strong(String),
    Em(String),
}

/// Text made of spans.
pub type Line = Vec<Span>;

pub fn text(s: impl Into<String>) -> Span {
    Span::Text(s.into())
}

pub fn code(s: impl Into<String>) -> Span {
    Span::Code(s.into())
}

pub fn strong(s: impl Into<String>) -> Span {
    Span::Strong(s.into())
}

pub fn em(s: impl Into<String>) -> Span {
    Span::Em(s.into())
}

/// How a boxed message reads: a note, a warning about the run, or a flag about a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Note,
    Warning,
    Flag,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    Heading {
        level: u8,
        text: String,
    },
    Para(Line),
    List(Vec<Line>),
    Callout {
        tone: Tone,
        lines: Vec<Line>,
    },
    /// A hypothesis's answer: the first thing a reader sees.
    Headline(Headline),
    /// What the verdict colours mean.
    Legend,
    Table(Table),
    Figure(Figure),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Headline {
    pub hypothesis: String,
    /// The question, as the study states the hypothesis.
    pub question: String,
    pub outcome: Decision,
    /// Why, in one sentence built from the deciding rule and its numbers.
    pub reason: String,
    /// Each number the rules read, with its interval and what it rests on.
    pub evidence: Vec<Line>,
    /// What a reader should check before trusting the verdict.
    pub flags: Vec<Line>,
}

/// A table with a numbered caption (`Table 2. ...`).
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub caption: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<Line>>,
}

/// A figure: an SVG document, published as `figures/<name>.svg`.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub name: String,
    pub caption: String,
    pub svg: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Page {
    pub fn push(&mut self, block: Block) {
        self.blocks.push(block);
    }

    pub fn heading(&mut self, level: u8, text: impl Into<String>) {
        self.push(Block::Heading {
            level,
            text: text.into(),
        });
    }

    pub fn para(&mut self, line: Line) {
        self.push(Block::Para(line));
    }

    /// The figures in page order.
    pub fn figures(&self) -> impl Iterator<Item = &Figure> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Figure(f) => Some(f),
            _ => None,
        })
    }
}

/// Where a figure is published, relative to the output folder.
pub fn figure_path(name: &str) -> String {
    format!("figures/{name}.svg")
}

/// The colour-free word of an outcome.
pub fn outcome_word(o: Decision) -> &'static str {
    match o {
        Decision::Confirmed => "CONFIRMED",
        Decision::Refuted => "REFUTED",
        Decision::Inconclusive => "INCONCLUSIVE",
    }
}

/// What each outcome means, for the legend (the colours are neutral: confirming a confounder is a
/// finding, not a failure).
pub const LEGEND: [(Decision, &str); 3] = [
    (
        Decision::Confirmed,
        "the confirming rule holds and the refuting one does not",
    ),
    (
        Decision::Refuted,
        "the refuting rule holds and the confirming one does not",
    ),
    (
        Decision::Inconclusive,
        "neither rule holds, both do, or a number they need is missing",
    ),
];
