//! The typed syntax tree. Every node carries the `Span` it was read from; nothing here is resolved yet.

use crate::source::{FileId, Span};

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Str {
    pub value: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    None,
    Percent,
    Px,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Number {
    pub value: f64,
    pub unit: Unit,
    /// The numeral as written (`1e-4`), kept so formatting never changes a number.
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Number(Number),
    Str(Str),
    Bool(bool, Span),
    Range(Number, Number, Span),
    List(Vec<Value>, Span),
    Call(Call),
    /// `name` or `name.part.part`
    Path(Vec<Ident>, Span),
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Number(n) => n.span,
            Value::Str(s) => s.span,
            Value::Bool(_, s) | Value::Range(_, _, s) | Value::List(_, s) | Value::Path(_, s) => *s,
            Value::Call(c) => c.span,
        }
    }

    /// What kind of value this is, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Value::Number(n) if n.unit == Unit::Percent => "a percentage",
            Value::Number(n) if n.unit == Unit::Px => "a pixel count",
            Value::Number(_) => "a number",
            Value::Str(_) => "a string",
            Value::Bool(..) => "a boolean",
            Value::Range(..) => "a range",
            Value::List(..) => "a list",
            Value::Call(_) => "a call",
            Value::Path(p, _) if p.len() > 1 => "a dotted path",
            Value::Path(..) => "a name",
        }
    }

    /// The single identifier of a one-part path.
    pub fn as_ident(&self) -> Option<&Ident> {
        match self {
            Value::Path(parts, _) if parts.len() == 1 => parts.first(),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Argument>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Argument {
    pub name: Option<Ident>,
    pub value: Value,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub items: Vec<BlockItem>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum BlockItem {
    Entry(Entry),
    Mapping(Mapping),
    Rule(Rule),
    Keep(Keep),
}

impl BlockItem {
    pub fn span(&self) -> Span {
        match self {
            BlockItem::Entry(e) => e.span,
            BlockItem::Mapping(m) => m.span,
            BlockItem::Rule(r) => r.span,
            BlockItem::Keep(k) => k.span,
        }
    }
}

/// `key value* [{ block }]`
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: Ident,
    pub values: Vec<Value>,
    pub block: Option<Block>,
    pub span: Span,
}

/// `"raw" => class` or `* => class`
#[derive(Clone, Debug, PartialEq)]
pub struct Mapping {
    /// `None` is the wildcard `*`.
    pub from: Option<Str>,
    pub to: Ident,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    Confirmed,
    Refuted,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub kind: RuleKind,
    pub expr: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Keep {
    pub expr: Expr,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl ArithOp {
    pub fn symbol(self) -> char {
        match self {
            ArithOp::Add => '+',
            ArithOp::Sub => '-',
            ArithOp::Mul => '*',
            ArithOp::Div => '/',
        }
    }

    pub fn is_additive(self) -> bool {
        matches!(self, ArithOp::Add | ArithOp::Sub)
    }
}

/// Expressions of `keep` filters and hypothesis rules. Chains of one operator are flat lists, so the
/// depth of the tree is bounded by the nesting of parentheses alone.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Or(Vec<Expr>, Span),
    And(Vec<Expr>, Span),
    Not(Box<Expr>, Span),
    Compare {
        lhs: Box<Expr>,
        op: CompareOp,
        rhs: Box<Expr>,
        span: Span,
    },
    In {
        expr: Box<Expr>,
        list: Vec<Value>,
        negated: bool,
        span: Span,
    },
    Missing {
        expr: Box<Expr>,
        negated: bool,
        span: Span,
    },
    /// `first op x op y ...`, all operators of one precedence level.
    Arith {
        first: Box<Expr>,
        rest: Vec<(ArithOp, Expr)>,
        span: Span,
    },
    Neg(Box<Expr>, Span),
    Number(Number),
    Str(Str),
    Bool(bool, Span),
    List(Vec<Value>, Span),
    Ref(Reference),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Or(_, s) | Expr::And(_, s) | Expr::Not(_, s) | Expr::Neg(_, s) => *s,
            Expr::Compare { span, .. }
            | Expr::In { span, .. }
            | Expr::Missing { span, .. }
            | Expr::Arith { span, .. } => *span,
            Expr::Number(n) => n.span,
            Expr::Str(s) => s.span,
            Expr::Bool(_, s) | Expr::List(_, s) => *s,
            Expr::Ref(r) => r.span,
        }
    }
}

/// `root[axis = value].field(arg).field`
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    pub segments: Vec<Segment>,
    pub selector: Vec<(Ident, Ident)>,
    pub selector_span: Option<Span>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub name: Ident,
    /// `None` without parentheses; `Some(vec![])` for `name()`.
    pub args: Option<Vec<SegmentArg>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SegmentArg {
    Number(Number),
    Str(Str),
    Ident(Ident),
}

impl SegmentArg {
    pub fn span(&self) -> Span {
        match self {
            SegmentArg::Number(n) => n.span,
            SegmentArg::Str(s) => s.span,
            SegmentArg::Ident(i) => i.span,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeclKind {
    Dataset,
    Segmenter,
    Crop,
    Preprocess,
    Model,
    Train,
    Split,
    Experiment,
    Probe,
    Hypothesis,
    Report,
}

impl DeclKind {
    pub const ALL: [DeclKind; 11] = [
        DeclKind::Dataset,
        DeclKind::Segmenter,
        DeclKind::Crop,
        DeclKind::Preprocess,
        DeclKind::Model,
        DeclKind::Train,
        DeclKind::Split,
        DeclKind::Experiment,
        DeclKind::Probe,
        DeclKind::Hypothesis,
        DeclKind::Report,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            DeclKind::Dataset => "dataset",
            DeclKind::Segmenter => "segmenter",
            DeclKind::Crop => "crop",
            DeclKind::Preprocess => "preprocess",
            DeclKind::Model => "model",
            DeclKind::Train => "train",
            DeclKind::Split => "split",
            DeclKind::Experiment => "experiment",
            DeclKind::Probe => "probe",
            DeclKind::Hypothesis => "hypothesis",
            DeclKind::Report => "report",
        }
    }

    pub fn from_keyword(word: &str) -> Option<DeclKind> {
        DeclKind::ALL.into_iter().find(|k| k.keyword() == word)
    }
}

/// `KIND NAME [= VALUE] ["doc"] [{ block }]`
#[derive(Clone, Debug, PartialEq)]
pub struct Decl {
    pub kind: DeclKind,
    pub kind_span: Span,
    pub name: Option<Ident>,
    pub value: Option<Value>,
    pub doc: Option<Str>,
    pub block: Option<Block>,
    pub span: Span,
}

impl Decl {
    /// The span that names the declaration: its name, or its keyword when unnamed.
    pub fn name_span(&self) -> Span {
        self.name.as_ref().map_or(self.kind_span, |n| n.span)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub name: Str,
    pub block: Option<Block>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Include {
    pub path: Str,
    pub span: Span,
    /// The file this include loaded, once resolved; `None` when it could not be read.
    pub target: Option<FileId>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Header(Header),
    Include(Include),
    Decl(Decl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Header(h) => h.span,
            Item::Include(i) => i.span,
            Item::Decl(d) => d.span,
        }
    }
}

/// One parsed file.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub id: FileId,
    pub items: Vec<Item>,
}

/// A root file and everything it includes.
#[derive(Clone, Debug, Default)]
pub struct Ast {
    pub files: Vec<File>,
}

impl Ast {
    pub fn file(&self, id: FileId) -> Option<&File> {
        self.files.iter().find(|f| f.id == id)
    }

    /// Items in reading order: the root file, with each include replaced by the included file's items
    /// (each file once, however often it is included).
    pub fn items(&self) -> Vec<&Item> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        if let Some(root) = self.files.first() {
            self.collect(root, &mut out, &mut seen);
        }
        out
    }

    fn collect<'a>(
        &'a self,
        file: &'a File,
        out: &mut Vec<&'a Item>,
        seen: &mut std::collections::HashSet<FileId>,
    ) {
        if !seen.insert(file.id) {
            return;
        }
        for item in &file.items {
            out.push(item);
            if let Item::Include(Include {
                target: Some(id), ..
            }) = item
                && let Some(included) = self.file(*id)
            {
                self.collect(included, out, seen);
            }
        }
    }
}
