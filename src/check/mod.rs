//! Stage 2, check: `Ast` → `Study`. Resolves names (one namespace for all declarations, declaration order
//! kept), types every value, checks ranges and cross-declaration rules, and reports every problem at once.
//! One module per declaration kind, as `declaration` dispatches: `dataset/` (by source), `crop`,
//! `preprocess`, `segmenter`, `learning` (models and trainings), `split`, `experiment` and its `grid`,
//! `probe`, `hypothesis`; `values` reads the blocks and values they all share.

mod crop;
mod dataset;
mod experiment;
mod grid;
mod hypothesis;
mod learning;
mod preprocess;
mod probe;
mod rules;
mod segmenter;
mod split;
mod values;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::diagnostics::{did_you_mean, suggest};
use crate::source::normalize;
use crate::source::{Reach, SourceMap, Span};
use crate::study::*;
use crate::syntax::ast::{self, Decl, DeclKind, Ident, Item, Value};
use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use values::Allow;

/// A declared name.
#[derive(Clone, Debug)]
struct Symbol {
    kind: DeclKind,
    span: Span,
}

pub struct Checker<'a> {
    sources: &'a SourceMap,
    pub diags: Diagnostics,
    symbols: IndexMap<String, Symbol>,
    used: HashSet<String>,
    root_dir: PathBuf,
    reach: Reach,
    study: Study,
    /// Unknown keys taken for typos of allowed ones, with the key meant (see `note_misspelling`).
    misspelt: Vec<(Span, String)>,
    /// Declared names by kind, for did-you-mean (filled on the first undefined reference).
    names_of_kind: HashMap<DeclKind, Vec<String>>,
    /// How many more name comparisons did-you-mean may make in this check.
    suggestion_budget: usize,
}

/// Name comparisons did-you-mean may make in one check (about a tenth of a second).
const SUGGESTION_BUDGET: usize = 1_000_000;

/// Checks a parsed study. Returns the `Study` only when there is no error; warnings may come with it.
/// Paths outside the study's folder tree are errors unless `reach` allows them.
pub fn check(ast: &ast::Ast, sources: &SourceMap, reach: Reach) -> (Option<Study>, Diagnostics) {
    let root_dir = ast
        .files
        .first()
        .map(|f| sources.get(f.id).dir())
        .unwrap_or_default();
    let mut checker = Checker {
        sources,
        diags: Diagnostics::default(),
        symbols: IndexMap::new(),
        used: HashSet::new(),
        root_dir: normalize(&root_dir),
        reach,
        study: empty_study(),
        misspelt: Vec::new(),
        names_of_kind: HashMap::new(),
        suggestion_budget: SUGGESTION_BUDGET,
    };
    let items = ast.items();
    checker.header(&items, ast);
    let decls: Vec<&Decl> = items
        .iter()
        .filter_map(|i| match i {
            Item::Decl(d) => Some(d),
            _ => None,
        })
        .collect();
    checker.declare(&decls);
    // Each kind only refers to kinds checked before it; datasets come parts before the unions of them.
    let datasets = checker.dataset_order(&decls);
    for kind in DeclKind::ALL {
        if kind == DeclKind::Dataset {
            datasets.iter().for_each(|decl| checker.declaration(decl));
            continue;
        }
        for decl in decls.iter().filter(|d| d.kind == kind) {
            checker.declaration(decl);
        }
    }
    checker.training_count();
    // Like a compiler's lints, unused warnings wait until the errors are fixed.
    if !checker.diags.has_errors() {
        let root_file = ast.files.first().map(|f| f.id);
        checker.unused(&decls, root_file);
    }
    let diags = std::mem::take(&mut checker.diags).sorted();
    let study = (!diags.has_errors()).then_some(checker.study);
    (study, diags)
}

fn empty_study() -> Study {
    Study {
        name: String::new(),
        description: None,
        seed: 0,
        repeats: 1,
        output: String::new(),
        max_trainings: None,
        datasets: IndexMap::new(),
        segmenters: IndexMap::new(),
        crops: IndexMap::new(),
        preprocessings: IndexMap::new(),
        models: IndexMap::new(),
        trainings: IndexMap::new(),
        splits: IndexMap::new(),
        experiments: IndexMap::new(),
        probes: IndexMap::new(),
        hypotheses: IndexMap::new(),
        report: Report::default(),
    }
}

impl<'a> Checker<'a> {
    pub(in crate::check) fn symbol_span(&self, name: &str) -> Span {
        self.symbols
            .get(name)
            .map(|s| s.span)
            .unwrap_or(Span::new(crate::source::FileId(0), 0, 0))
    }

    pub fn origin(&self, span: Span) -> Origin {
        Origin {
            location: self.sources.location(span),
            span: Some(span),
        }
    }

    /// A path written in the file of `span`, made relative to the root study's folder, so that moving a
    /// declaration into an included file (with its paths adjusted) does not change the study's meaning.
    /// A path as written, resolved against the file it is written in and shown relative to the study's
    /// folder; one that leaves the folder is an error (E0035) unless the study may reach anywhere.
    pub fn bounded_path(&mut self, span: Span, written: &str) -> String {
        let resolved = self.resolve_path(span, written);
        let full = self.root_dir.join(&resolved);
        if self.reach == Reach::StudyTree && !crate::source::inside(&full, &self.root_dir) {
            self.error(crate::syntax::outside_study(
                span,
                written,
                &full,
                &self.root_dir,
            ));
        }
        resolved
    }

    pub fn resolve_path(&self, span: Span, written: &str) -> String {
        let written_path = Path::new(written);
        if written_path.is_absolute() {
            return crate::source::display_path(written_path);
        }
        let dir = self.sources.get(span.file).dir();
        let full = normalize(&dir.join(written_path));
        crate::source::display_path(&relative_to(&full, &self.root_dir))
    }

    fn header(&mut self, items: &[&Item], ast: &ast::Ast) {
        let root = ast.files.first().map(|f| f.id);
        let headers: Vec<&ast::Header> = items
            .iter()
            .filter_map(|i| match i {
                Item::Header(h) => Some(h),
                _ => None,
            })
            .collect();
        let Some(header) = headers.first() else {
            if let Some(root) = root {
                self.error(
                    Diagnostic::new(Code::MissingHeader, "the study has no `study` header")
                        .at(Span::new(root, 0, 0), "expected `study \"name\" { ... }`")
                        .help("start the file with: study \"my-study\" { seed 1 }"),
                );
            }
            return;
        };
        for extra in &headers[1..] {
            self.error(
                Diagnostic::new(
                    Code::MissingHeader,
                    "a study has exactly one `study` header",
                )
                .at(extra.span, "second header")
                .also(header.span, "first header")
                .help("included files hold declarations only; remove this header"),
            );
        }
        if Some(header.span.file) != root {
            self.error(
                Diagnostic::new(
                    Code::MissingHeader,
                    "the `study` header must be in the root file",
                )
                .at(header.span, "header in an included file")
                .help("move the header into the file you run"),
            );
        }
        if header.name.value.trim().is_empty() {
            self.out_of_range(
                header.name.span,
                "the study name is empty".into(),
                "give the study a name",
            );
        }
        self.study.name = header.name.value.clone();
        let allowed = ["description", "seed", "repeats", "output", "max_trainings"];
        let e = self.entries(
            header.block.as_ref(),
            "the study header",
            &allowed,
            Allow::default(),
            header.span,
        );
        if let Some(v) = e.get("description").and_then(|e| self.one(e)) {
            self.study.description = self.string(v, "the description");
        }
        if let Some(v) = e.get("seed").and_then(|e| self.one(e)) {
            self.study.seed = self
                .integer(v, "the seed", 0, u64::MAX >> 11, false)
                .unwrap_or(0);
        }
        if let Some(v) = e.get("repeats").and_then(|e| self.one(e)) {
            self.study.repeats = self.count(v, "repeats", 1, 1000).unwrap_or(1);
        }
        if let Some(v) = e.get("max_trainings").and_then(|e| self.one(e)) {
            self.study.max_trainings = self.integer(v, "max_trainings", 1, 1_000_000_000, false);
        }
        self.study.output = match e.get("output").and_then(|e| self.one(e)) {
            Some(v) => self.path(v, "the output directory").unwrap_or_default(),
            None => format!("out/{}", slug(&self.study.name)),
        };
    }

    /// Registers every name; duplicates are reported with both places.
    fn declare(&mut self, decls: &[&Decl]) {
        let mut first_report: Option<Span> = None;
        for decl in decls {
            if decl.kind == DeclKind::Report {
                match first_report {
                    Some(first) => self.error(
                        Diagnostic::new(Code::DuplicateName, "the report is declared twice")
                            .at(decl.kind_span, "declared again here")
                            .also(first, "first declared here")
                            .help("a study has one `report` block; merge the two"),
                    ),
                    None => first_report = Some(decl.kind_span),
                }
            }
            let Some(name) = &decl.name else {
                if decl.kind != DeclKind::Report {
                    self.error(
                        Diagnostic::new(
                            Code::MissingName,
                            format!("this {} has no name", decl.kind.keyword()),
                        )
                        .at(decl.kind_span, "name expected after this")
                        .help(format!("write `{} my_name = ...`", decl.kind.keyword())),
                    );
                }
                continue;
            };
            if let Some(first) = self.symbols.get(&name.name) {
                let same = first.kind == decl.kind;
                let message = if same {
                    format!("{} `{}` is declared twice", decl.kind.keyword(), name.name)
                } else {
                    format!(
                        "`{}` is already the name of a {}",
                        name.name,
                        first.kind.keyword()
                    )
                };
                self.error(
                    Diagnostic::new(Code::DuplicateName, message)
                        .at(name.span, "declared again here")
                        .also(first.span, "first declared here")
                        .help(
                            "names are shared by all declarations and included files; rename one",
                        ),
                );
                continue;
            }
            self.symbols.insert(
                name.name.clone(),
                Symbol {
                    kind: decl.kind,
                    span: name.span,
                },
            );
        }
    }

    /// Checks one declaration and stores its typed form in the study.
    fn declaration(&mut self, decl: &Decl) {
        // A duplicate keeps its first declaration; later ones are checked for errors but not stored.
        let name = decl
            .name
            .as_ref()
            .map(|n| n.name.clone())
            .unwrap_or_default();
        let first = decl
            .name
            .as_ref()
            .is_some_and(|n| self.symbols.get(&n.name).is_some_and(|s| s.span == n.span));
        let store = first || decl.kind == DeclKind::Report;
        match decl.kind {
            DeclKind::Dataset => {
                if let Some(d) = self.dataset(decl)
                    && store
                {
                    self.study.datasets.insert(name, d);
                }
            }
            DeclKind::Segmenter => {
                if let Some(s) = self.segmenter(decl)
                    && store
                {
                    self.study.segmenters.insert(name, s);
                }
            }
            DeclKind::Crop => {
                if let Some(c) = self.crop(decl)
                    && store
                {
                    self.study.crops.insert(name, c);
                }
            }
            DeclKind::Preprocess => {
                if let Some(p) = self.preprocess(decl)
                    && store
                {
                    self.study.preprocessings.insert(name, p);
                }
            }
            DeclKind::Model => {
                if let Some(m) = self.model(decl)
                    && store
                {
                    self.study.models.insert(name, m);
                }
            }
            DeclKind::Train => {
                if let Some(t) = self.training(decl)
                    && store
                {
                    self.study.trainings.insert(name, t);
                }
            }
            DeclKind::Split => {
                if let Some(s) = self.split(decl)
                    && store
                {
                    self.study.splits.insert(name, s);
                }
            }
            DeclKind::Experiment => {
                if let Some(e) = self.experiment(decl)
                    && store
                {
                    self.study.experiments.insert(name, e);
                }
            }
            DeclKind::Probe => {
                if let Some(p) = self.probe(decl)
                    && store
                {
                    self.study.probes.insert(name, p);
                }
            }
            DeclKind::Hypothesis => {
                if let Some(h) = self.hypothesis(decl)
                    && store
                {
                    self.study.hypotheses.insert(name, h);
                }
            }
            DeclKind::Report => self.report(decl),
        }
    }

    /// What to say about a name that is not declared: the closest declared name of its kind, or some of
    /// them. Names are grouped by kind once; comparisons are bounded by `SUGGESTION_BUDGET` over the
    /// whole check, so thousands of misspelt references stay fast (later ones then list names only).
    fn undefined_help(&mut self, name: &str, kind: DeclKind) -> String {
        if self.names_of_kind.is_empty() {
            for (n, symbol) in &self.symbols {
                self.names_of_kind
                    .entry(symbol.kind)
                    .or_default()
                    .push(n.clone());
            }
        }
        let same_kind: &[String] = self.names_of_kind.get(&kind).map_or(&[], Vec::as_slice);
        let affordable = same_kind.len() <= self.suggestion_budget;
        self.suggestion_budget = self.suggestion_budget.saturating_sub(same_kind.len());
        let closest = affordable
            .then(|| suggest(name, same_kind.iter().map(String::as_str)))
            .flatten();
        if let Some(s) = closest {
            return format!("did you mean `{s}`?");
        }
        if same_kind.is_empty() {
            return format!(
                "declare it: `{} {} = ...`",
                kind.keyword(),
                crate::source::clip(name, 60)
            );
        }
        let shown: Vec<&str> = same_kind.iter().take(10).map(String::as_str).collect();
        let more = match same_kind.len().saturating_sub(shown.len()) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        format!("declared {}s: {}{more}", kind.keyword(), shown.join(", "))
    }

    /// Resolves a reference to a declaration of `kind`, marking it used. Reports undefined names and
    /// names of the wrong kind.
    pub fn reference(&mut self, id: &Ident, kind: DeclKind) -> Option<String> {
        let Some(symbol) = self.symbols.get(&id.name).cloned() else {
            let help = self.undefined_help(&id.name, kind);
            self.error(
                Diagnostic::new(
                    Code::UndefinedName,
                    format!("no {} named `{}`", kind.keyword(), id.name),
                )
                .at(id.span, "not declared")
                .help(help),
            );
            return None;
        };
        self.used.insert(id.name.clone());
        if symbol.kind != kind {
            self.error(
                Diagnostic::new(
                    Code::WrongKind,
                    format!(
                        "`{}` is a {}, but a {} is expected here",
                        id.name,
                        symbol.kind.keyword(),
                        kind.keyword()
                    ),
                )
                .at(id.span, format!("expected a {}", kind.keyword()))
                .also(
                    symbol.span,
                    format!("declared as a {} here", symbol.kind.keyword()),
                ),
            );
            return None;
        }
        Some(id.name.clone())
    }

    /// A reference written as a value (`model small`).
    pub fn reference_value(&mut self, v: &Value, kind: DeclKind) -> Option<String> {
        let id = self.ident(v, &format!("a {} name", kind.keyword()))?;
        self.reference(id, kind)
    }

    /// The variant after `=`: its name and, for calls, the call. `options` lists the known variants.
    pub fn variant<'d>(
        &mut self,
        decl: &'d Decl,
        options: &[&str],
        example: &str,
    ) -> Option<(&'d Ident, Option<&'d ast::Call>)> {
        let kind = decl.kind.keyword();
        let (id, call) = match &decl.value {
            None => {
                self.error(
                    Diagnostic::new(
                        Code::MissingEntry,
                        format!("this {kind} does not say what it is"),
                    )
                    .at(
                        decl.name_span(),
                        format!("expected `= {}`", options.join(" | ")),
                    )
                    .help(format!("for example: {example}")),
                );
                return None;
            }
            Some(Value::Call(c)) => (&c.name, Some(c)),
            Some(v) => match v.as_ident() {
                Some(id) => (id, None),
                None => {
                    self.wrong_type(
                        v,
                        &format!("a {kind} variant ({})", options.join(", ")),
                        &format!("the {kind}"),
                    );
                    return None;
                }
            },
        };
        if !options.contains(&id.name.as_str()) {
            self.error(
                Diagnostic::new(
                    Code::UnknownConstructor,
                    format!("unknown {kind} variant `{}`", id.name),
                )
                .at(id.span, "unknown variant")
                .help(did_you_mean(&id.name, options)),
            );
            return None;
        }
        Some((id, call))
    }

    fn report(&mut self, decl: &Decl) {
        if let Some(v) = &decl.value {
            self.wrong_type(
                v,
                "nothing (write `report { formats [...] }`)",
                "the report",
            );
        }
        let e = self.block_entries(decl, "the report", &["formats"]);
        if let Some(v) = e.get("formats").and_then(|e| self.one(e)) {
            let mut formats = Vec::new();
            let written: Vec<(String, Span)> = self
                .list(v)
                .iter()
                .map(|f| (crate::syntax::format::value_text(f), f.span()))
                .collect();
            self.no_repeats(&written, "format");
            for item in self.list(v) {
                let f = match self
                    .choice(item, "report format", &["markdown", "html", "json", "csv"])
                    .as_deref()
                {
                    Some("markdown") => ReportFormat::Markdown,
                    Some("html") => ReportFormat::Html,
                    Some("json") => ReportFormat::Json,
                    Some("csv") => ReportFormat::Csv,
                    _ => continue,
                };
                if !formats.contains(&f) {
                    formats.push(f);
                }
            }
            self.study.report.formats = formats;
        }
    }

    /// Declarations of the root file nothing refers to. Experiments, probes, hypotheses and reports are
    /// the roots. Included files are libraries: a study uses what it needs of them.
    fn unused(&mut self, decls: &[&Decl], root_file: Option<crate::source::FileId>) {
        for decl in decls {
            if Some(decl.span.file) != root_file {
                continue;
            }
            let root = matches!(
                decl.kind,
                DeclKind::Experiment | DeclKind::Probe | DeclKind::Hypothesis | DeclKind::Report
            );
            let Some(name) = &decl.name else { continue };
            let duplicate = self
                .symbols
                .get(&name.name)
                .is_some_and(|s| s.span != name.span);
            if root || duplicate || self.used.contains(&name.name) {
                continue;
            }
            self.error(
                Diagnostic::new(
                    Code::Unused,
                    format!("{} `{}` is never used", decl.kind.keyword(), name.name),
                )
                .at(name.span, "not referenced anywhere")
                .help("use it in an experiment or probe, or remove it"),
            );
        }
    }
}

/// A name safe for a folder: lowercase letters, digits, `-` and `_`.
pub fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "study".into() } else { s }
}

/// `path` relative to `base`, lexically (both already normalised).
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common < b.len()
        && b[common..]
            .iter()
            .any(|c| !matches!(c, Component::Normal(_)))
    {
        return path.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_lexical() {
        assert_eq!(
            relative_to(Path::new("studies/data/m.csv"), Path::new("studies")),
            PathBuf::from("data/m.csv")
        );
        assert_eq!(
            relative_to(Path::new("data/m.csv"), Path::new("studies")),
            PathBuf::from("../data/m.csv")
        );
        assert_eq!(
            relative_to(Path::new("m.csv"), Path::new("")),
            PathBuf::from("m.csv")
        );
        assert_eq!(
            normalize(Path::new("studies/lib/../data/./m.csv")),
            PathBuf::from("studies/data/m.csv")
        );
        assert_eq!(
            normalize(Path::new("../x/../../y")),
            PathBuf::from("../../y")
        );
    }

    #[test]
    fn slugs_are_safe_folder_names() {
        assert_eq!(slug("Covid Confounders (2021)"), "covid-confounders--2021");
        assert_eq!(slug("***"), "study");
    }
}
