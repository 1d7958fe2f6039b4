//! Datasets (with `keep` filters and label maps), crops, preprocessings and segmenters.

use super::Checker;
use super::values::{Allow, Entries, decl_owner};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::study::*;
use crate::syntax::ast::{self, Decl, DeclKind, Expr, Unit, Value};
use indexmap::IndexMap;

const CSV_ENTRIES: &[&str] = &[
    "images", "image", "label", "source", "patient", "age", "sex", "view", "meta", "mask", "masks",
    "sources", "classes", "on_error",
];
const FOLDER_ENTRIES: &[&str] = &["layout", "label", "sources", "classes", "masks", "on_error"];
const SYNTHETIC_ENTRIES: &[&str] = &["size", "classes", "signal", "source*"];
const SOURCE_PARAMS: &[&str] = &[
    "images", "age", "male", "ap", "gamma", "contrast", "noise", "blur", "offset", "invert",
    "marker", "border", "stretch",
];
/// Classes the synthetic generator knows how to draw.
const SYNTHETIC_CLASSES: &[&str] = &["covid", "pneumonia", "normal"];
/// Metadata roles a manifest maps to columns.
pub const ROLES: &[&str] = &["image", "label", "source", "patient", "age", "sex", "view"];

impl Checker<'_> {
    pub(super) fn dataset(&mut self, decl: &Decl) -> Option<Dataset> {
        let example =
            "dataset cxr = csv(\"manifest.csv\") { image column \"path\", label column \"label\" }";
        let (variant, call) = self.variant(
            decl,
            &["csv", "folders", "dicom", "synthetic", "union"],
            example,
        )?;
        let owner = decl_owner(decl);
        let origin = self.origin(decl.name_span());
        match variant.name.as_str() {
            "csv" => self.csv_dataset(decl, call, &owner, origin),
            "folders" | "dicom" => {
                self.folder_dataset(decl, call, &owner, origin, variant.name == "dicom")
            }
            "synthetic" => self.synthetic_dataset(decl, call, &owner, origin),
            _ => self.union_dataset(decl, call, origin),
        }
    }

    /// The single path argument of `csv("...")`, `folders("...")`, `dicom("...")`.
    fn path_argument(
        &mut self,
        decl: &Decl,
        call: Option<&ast::Call>,
        what: &str,
    ) -> Option<String> {
        let Some(call) = call else {
            self.missing(
                decl.value.as_ref().map_or(decl.span, Value::span),
                "this dataset",
                what,
                &format!("{what}(\"path\")"),
            );
            return None;
        };
        let args = self.args(call, "this dataset", &["path"], 1);
        match args.get("path") {
            Some(v) => self.path(v, "the path"),
            None => {
                self.missing(
                    call.span,
                    &format!("`{}(...)`", call.name.name),
                    "path",
                    &format!("{}(\"path\")", call.name.name),
                );
                None
            }
        }
    }

    fn csv_dataset(
        &mut self,
        decl: &Decl,
        call: Option<&ast::Call>,
        owner: &str,
        origin: Origin,
    ) -> Option<Dataset> {
        let manifest = self.path_argument(decl, call, "csv");
        let e = self.entries(
            decl.block.as_ref(),
            owner,
            CSV_ENTRIES,
            Allow {
                keep: true,
                ..Allow::default()
            },
            decl.span,
        );
        let image = self.column_entry(&e, "image", owner, true);
        let label_entry = e.get("label");
        let label = self.column_entry(&e, "label", owner, true);
        let label_map = label_entry
            .and_then(|l| l.block.as_ref())
            .and_then(|b| self.label_map(b));
        let source = e
            .get("source")
            .and_then(|entry| match entry.values.as_slice() {
                [Value::Str(s)] => Some(SourceColumn::Fixed(s.value.clone())),
                _ => self.column_of(entry).map(SourceColumn::Column),
            });
        let mut columns = Columns {
            image: image.clone().unwrap_or_default(),
            label: label.clone().unwrap_or_default(),
            source,
            patient: self.column_entry(&e, "patient", owner, false),
            age: self.column_entry(&e, "age", owner, false),
            sex: self.column_entry(&e, "sex", owner, false),
            view: self.column_entry(&e, "view", owner, false),
            extra: IndexMap::new(),
        };
        if let Some(meta) = e.get("meta") {
            columns.extra = self.meta_columns(meta);
        }
        let keep = self.keep_filter(&e, &columns);
        let mut masks = None;
        if let Some(m) = e.get("mask") {
            masks = self.column_of(m).map(DatasetMasks::Column);
        }
        if let Some(m) = e.get("masks").and_then(|m| self.one(m)) {
            if let Some(first) = e.get("mask") {
                self.error(
                    Diagnostic::new(
                        Code::IncompatibleChoice,
                        "masks come either from a column or from a folder",
                    )
                    .at(m.span(), "mask folder")
                    .also(first.span, "mask column")
                    .help("keep one of `mask column \"...\"` and `masks \"folder\"`"),
                );
            }
            masks = self.path(m, "the mask folder").map(DatasetMasks::Folder);
        }
        let classes = self.declared_classes(&e, label_map.as_ref());
        let sources = self.declared_sources(&e).or_else(|| match &columns.source {
            Some(SourceColumn::Fixed(s)) => Some(vec![s.clone()]),
            _ => None,
        });
        let on_error = self.on_error(&e);
        let manifest = manifest?;
        if image.is_none() || label.is_none() {
            return None;
        }
        Some(Dataset {
            origin,
            source: DatasetSource::Csv {
                manifest,
                images: e
                    .get("images")
                    .and_then(|i| self.one(i))
                    .and_then(|v| self.path(v, "the image folder")),
                columns,
                label_map,
                keep,
            },
            classes,
            sources,
            masks,
            on_error,
        })
    }

    /// `key column "name"`; reports a missing required column.
    fn column_entry(
        &mut self,
        e: &Entries,
        key: &str,
        owner: &str,
        required: bool,
    ) -> Option<String> {
        match e.get(key) {
            Some(entry) => self.column_of(entry),
            None if required => {
                self.missing(e.span, owner, key, &format!("{key} column \"{key}\""));
                None
            }
            None => None,
        }
    }

    /// The column name of `key column "name"`.
    fn column_of(&mut self, entry: &ast::Entry) -> Option<String> {
        match entry.values.as_slice() {
            [kw, Value::Str(s)] if kw.as_ident().is_some_and(|i| i.name == "column") => {
                if s.value.is_empty() {
                    self.out_of_range(
                        s.span,
                        "the column name is empty".into(),
                        "name the CSV column",
                    );
                    return None;
                }
                Some(s.value.clone())
            }
            _ => {
                let key = &entry.key.name;
                self.error(
                    Diagnostic::new(Code::WrongType, format!("`{key}` names a manifest column"))
                        .at(entry.span, "expected `column \"NAME\"`")
                        .help(format!("write `{key} column \"{key}\"`")),
                );
                None
            }
        }
    }

    /// `meta { site "site", finding "Finding Labels" }`
    fn meta_columns(&mut self, entry: &ast::Entry) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        let Some(block) = &entry.block else {
            self.error(
                Diagnostic::new(Code::WrongType, "`meta` maps metadata names to columns")
                    .at(entry.span, "expected a block")
                    .help("write `meta { site \"site\", finding \"finding\" }`"),
            );
            return out;
        };
        for item in &block.items {
            let ast::BlockItem::Entry(m) = item else {
                self.error(
                    Diagnostic::new(Code::WrongType, "expected `name \"column\"`")
                        .at(item.span(), "not a metadata column"),
                );
                continue;
            };
            if ROLES.contains(&m.key.name.as_str()) {
                self.error(
                    Diagnostic::new(
                        Code::DuplicateEntry,
                        format!("`{}` is a built-in role, not extra metadata", m.key.name),
                    )
                    .at(m.key.span, "built-in role")
                    .help(format!(
                        "map it with `{} column \"...\"` outside `meta`",
                        m.key.name
                    )),
                );
                continue;
            }
            if let Some(v) = self.one(m)
                && let Some(col) = self.string(v, "a metadata column")
                && out.insert(m.key.name.clone(), col).is_some()
            {
                self.error(
                    Diagnostic::new(
                        Code::DuplicateEntry,
                        format!("`{}` is mapped twice", m.key.name),
                    )
                    .at(m.key.span, "again here"),
                );
            }
        }
        out
    }

    /// `{ "COVID-19" => covid, * => other }`; `drop` as a target leaves rows out.
    fn label_map(&mut self, block: &ast::Block) -> Option<LabelMap> {
        let e = self.entries(
            Some(block),
            "a label map",
            &[],
            Allow {
                mappings: true,
                ..Allow::default()
            },
            block.span,
        );
        let mut map = LabelMap {
            entries: IndexMap::new(),
            wildcard: None,
        };
        let mut wildcard_span: Option<Span> = None;
        for m in &e.mappings {
            let target = if m.to.name == "drop" {
                LabelTarget::Drop
            } else {
                LabelTarget::Class(m.to.name.clone())
            };
            match &m.from {
                Some(raw) => {
                    if map.entries.insert(raw.value.clone(), target).is_some() {
                        self.error(
                            Diagnostic::new(
                                Code::DuplicateEntry,
                                format!("\"{}\" is mapped twice", raw.value),
                            )
                            .at(raw.span, "mapped again")
                            .help("each raw value maps to one class"),
                        );
                    }
                }
                None => {
                    if let Some(first) = wildcard_span {
                        self.error(
                            Diagnostic::new(
                                Code::DuplicateEntry,
                                "the wildcard `*` is mapped twice",
                            )
                            .at(m.span, "again here")
                            .also(first, "first here"),
                        );
                    }
                    wildcard_span = Some(m.span);
                    map.wildcard = Some(target);
                }
            }
        }
        let classes = label_map_classes(&map);
        if classes.len() < 2 {
            self.error(
                Diagnostic::new(
                    Code::OutOfRange,
                    format!(
                        "the label map yields {} class(es); a classifier needs at least 2",
                        classes.len()
                    ),
                )
                .at(block.span, "too few classes")
                .help("map raw values to at least two class names"),
            );
            return None;
        }
        Some(map)
    }

    fn declared_classes(&mut self, e: &Entries, map: Option<&LabelMap>) -> Option<Vec<String>> {
        let declared = e
            .get("classes")
            .and_then(|c| self.one(c))
            .and_then(|v| self.names(v, "a class"));
        match (declared, map) {
            (Some(list), Some(map)) => {
                let from_map = label_map_classes(map);
                for (c, span) in &list {
                    if !from_map.contains(c) {
                        self.error(
                            Diagnostic::new(
                                Code::UnknownClass,
                                format!("class `{c}` is not a target of the label map"),
                            )
                            .at(*span, "not produced by the label map")
                            .help(format!("the label map produces: {}", from_map.join(", "))),
                        );
                    }
                }
                Some(list.into_iter().map(|(c, _)| c).collect())
            }
            (Some(list), None) => Some(list.into_iter().map(|(c, _)| c).collect()),
            (None, Some(map)) => Some(label_map_classes(map)),
            (None, None) => None,
        }
    }

    fn declared_sources(&mut self, e: &Entries) -> Option<Vec<String>> {
        let v = e.get("sources").and_then(|s| self.one(s))?;
        let names = self.names(v, "a source")?;
        Some(names.into_iter().map(|(n, _)| n).collect())
    }

    fn on_error(&mut self, e: &Entries) -> OnError {
        match e
            .get("on_error")
            .and_then(|x| self.one(x))
            .and_then(|v| self.choice(v, "on_error policy", &["fail", "skip"]))
        {
            Some(s) if s == "skip" => OnError::Skip,
            _ => OnError::Fail,
        }
    }

    fn folder_dataset(
        &mut self,
        decl: &Decl,
        call: Option<&ast::Call>,
        owner: &str,
        origin: Origin,
        dicom: bool,
    ) -> Option<Dataset> {
        let root = self.path_argument(decl, call, if dicom { "dicom" } else { "folders" });
        let e = self.entries(
            decl.block.as_ref(),
            owner,
            FOLDER_ENTRIES,
            Allow::default(),
            decl.span,
        );
        let layout = match e.get("layout").and_then(|l| self.one(l)).map(|v| {
            self.choice(
                v,
                "folder layout",
                &["class_per_folder", "source_then_class"],
            )
        }) {
            Some(Some(l)) if l == "source_then_class" => FolderLayout::SourceThenClass,
            Some(None) => return None,
            _ => FolderLayout::ClassPerFolder,
        };
        let label_map = match e.get("label") {
            Some(l) => match &l.block {
                Some(b) if l.values.is_empty() => self.label_map(b),
                _ => {
                    self.error(
                        Diagnostic::new(
                            Code::WrongType,
                            "`label` of a folder dataset maps folder names to classes",
                        )
                        .at(l.span, "expected `label { \"folder\" => class }`"),
                    );
                    None
                }
            },
            None => None,
        };
        let classes = self.declared_classes(&e, label_map.as_ref());
        let sources = self.declared_sources(&e);
        let masks = e
            .get("masks")
            .and_then(|m| self.one(m))
            .and_then(|v| self.path(v, "the mask folder"))
            .map(DatasetMasks::Folder);
        let on_error = self.on_error(&e);
        let root = root?;
        let source = if dicom {
            DatasetSource::Dicom {
                root,
                layout,
                label_map,
            }
        } else {
            DatasetSource::Folders {
                root,
                layout,
                label_map,
            }
        };
        Some(Dataset {
            origin,
            source,
            classes,
            sources,
            masks,
            on_error,
        })
    }

    fn synthetic_dataset(
        &mut self,
        decl: &Decl,
        call: Option<&ast::Call>,
        owner: &str,
        origin: Origin,
    ) -> Option<Dataset> {
        if let Some(call) = call {
            self.error(
                Diagnostic::new(Code::UnknownEntry, "`synthetic` takes no arguments")
                    .at(call.span, "arguments not allowed")
                    .help("set its parameters in the block: synthetic { size 128, ... }"),
            );
        }
        let e = self.entries(
            decl.block.as_ref(),
            owner,
            SYNTHETIC_ENTRIES,
            Allow::default(),
            decl.span,
        );
        let size = match e.get("size").and_then(|s| self.one(s)) {
            Some(v) => self.integer(v, "the image size", 16, 2048, true)? as u32,
            None => 128,
        };
        let signal = match e.get("signal").and_then(|s| self.one(s)) {
            Some(v) => self.number_in(v, "the pathology signal", 0.0, 1.0)?,
            None => 0.5,
        };
        let mut classes = vec!["covid".to_string(), "normal".to_string()];
        if let Some(v) = e.get("classes").and_then(|c| self.one(c)) {
            let names = self.names(v, "a class")?;
            let mut ok = true;
            for (c, span) in &names {
                if !SYNTHETIC_CLASSES.contains(&c.as_str()) {
                    self.error(
                        Diagnostic::new(
                            Code::UnknownClass,
                            format!("the synthetic generator cannot draw class `{c}`"),
                        )
                        .at(*span, "unknown synthetic class")
                        .help(crate::diagnostics::did_you_mean(c, SYNTHETIC_CLASSES)),
                    );
                    ok = false;
                }
            }
            if names.len() < 2 {
                self.out_of_range(
                    v.span(),
                    "a synthetic dataset needs at least 2 classes".into(),
                    "for example: classes [covid, normal]",
                );
                ok = false;
            }
            if !ok {
                return None;
            }
            classes = names.into_iter().map(|(c, _)| c).collect();
        }
        let mut sources = IndexMap::new();
        let mut spans: IndexMap<String, Span> = IndexMap::new();
        for entry in &e.repeated {
            let Some(name) = entry.values.first().and_then(|v| match v {
                Value::Str(s) => Some((s.value.clone(), s.span)),
                other => other.as_ident().map(|i| (i.name.clone(), i.span)),
            }) else {
                self.error(
                    Diagnostic::new(Code::WrongType, "a synthetic source needs a name")
                        .at(entry.span, "expected `source NAME { ... }`")
                        .help("for example: source site_a { images 200, covid 80% }"),
                );
                continue;
            };
            if let Some(first) = spans.get(&name.0) {
                self.error(
                    Diagnostic::new(
                        Code::DuplicateEntry,
                        format!("source `{}` is declared twice", name.0),
                    )
                    .at(name.1, "again here")
                    .also(*first, "first here"),
                );
                continue;
            }
            spans.insert(name.0.clone(), name.1);
            if let Some(source) = self.synthetic_source(entry, &name.0, &classes) {
                sources.insert(name.0, source);
            }
        }
        if e.repeated.is_empty() {
            self.missing(
                e.span,
                owner,
                "source",
                "source site_a { images 200, covid 50% }",
            );
            return None;
        }
        if sources.len() != spans.len() {
            return None;
        }
        let source_names = sources.keys().cloned().collect();
        Some(Dataset {
            origin,
            source: DatasetSource::Synthetic(Synthetic {
                size,
                classes: classes.clone(),
                signal,
                sources,
            }),
            classes: Some(classes),
            sources: Some(source_names),
            masks: Some(DatasetMasks::Generated),
            on_error: OnError::Fail,
        })
    }

    fn synthetic_source(
        &mut self,
        entry: &ast::Entry,
        name: &str,
        classes: &[String],
    ) -> Option<SyntheticSource> {
        if entry.values.len() > 1 {
            self.error(
                Diagnostic::new(
                    Code::WrongType,
                    "a synthetic source is `source NAME { ... }`",
                )
                .at(entry.values[1].span(), "unexpected value")
                .help("put the source's parameters inside its block"),
            );
        }
        let mut allowed: Vec<&str> = SOURCE_PARAMS.to_vec();
        allowed.extend(classes.iter().map(String::as_str));
        let owner = format!("synthetic source `{name}`");
        let e = self.entries(
            entry.block.as_ref(),
            &owner,
            &allowed,
            Allow::default(),
            entry.span,
        );
        let mut ok = true;
        let mut s = SyntheticSource {
            images: 100,
            labels: IndexMap::new(),
            age: (20.0, 80.0),
            male: 0.5,
            ap: 0.3,
            gamma: 1.0,
            contrast: 1.0,
            noise: 0.0,
            blur: 0.0,
            offset: 0.0,
            invert: false,
            marker: None,
            border: 0.0,
            stretch: 1.0,
        };
        macro_rules! read {
            ($key:literal, $v:ident => $conv:expr, $field:expr) => {
                if let Some($v) = e.get($key).and_then(|x| self.one(x)) {
                    match $conv {
                        Some(x) => $field = x,
                        None => ok = false,
                    }
                }
            };
        }
        read!("images", v => self.count(v, "the image count", 1, 1_000_000), s.images);
        read!("male", v => self.fraction(v, "the share of male patients"), s.male);
        read!("ap", v => self.fraction(v, "the share of AP views"), s.ap);
        read!("gamma", v => self.number_in(v, "gamma", 0.1, 10.0), s.gamma);
        read!("contrast", v => self.number_in(v, "contrast", 0.0, 5.0), s.contrast);
        read!("noise", v => self.number_in(v, "noise", 0.0, 1.0), s.noise);
        read!("blur", v => self.number_in(v, "blur (pixels)", 0.0, 20.0), s.blur);
        read!("offset", v => self.number_in(v, "the intensity offset", -1.0, 1.0), s.offset);
        read!("border", v => self.fraction(v, "the border width"), s.border);
        read!("stretch", v => self.number_in(v, "the stretch factor", 0.5, 2.0), s.stretch);
        if let Some(x) = e.get("invert") {
            s.invert = self.flag(x).unwrap_or(false);
        }
        if let Some(x) = e.get("age") {
            match self.one(x) {
                Some(Value::Range(lo, hi, span))
                    if lo.unit == Unit::None && hi.unit == Unit::None =>
                {
                    if lo.value < 0.0 || hi.value > 120.0 || lo.value > hi.value {
                        self.out_of_range(
                            *span,
                            format!(
                                "the age range {}..{} is not within 0..120",
                                lo.text, hi.text
                            ),
                            "write an increasing range such as 20..80",
                        );
                        ok = false;
                    } else {
                        s.age = (lo.value, hi.value);
                    }
                }
                Some(v) => {
                    self.wrong_type(v, "an age range such as 20..80", "the age");
                    ok = false;
                }
                None => ok = false,
            }
        }
        if let Some(x) = e.get("marker") {
            s.marker = self.marker(x);
            ok &= s.marker.is_some();
        }
        // Label mix: given classes take their share; the others share what is left equally.
        let mut given = 0.0;
        let mut last_span = entry.span;
        for class in classes {
            if let Some(v) = e.get(class).and_then(|x| self.one(x)) {
                match self.fraction(v, &format!("the share of {class}")) {
                    Some(f) => {
                        given += f;
                        last_span = v.span();
                        s.labels.insert(class.clone(), f);
                    }
                    None => ok = false,
                }
            }
        }
        let rest: Vec<&String> = classes
            .iter()
            .filter(|c| !s.labels.contains_key(*c))
            .collect();
        let sum_error = if rest.is_empty() {
            (given - 1.0).abs() > 1e-9
        } else {
            given > 1.0 + 1e-9
        };
        if sum_error {
            self.error(
                Diagnostic::new(Code::FractionSum, format!("the label shares of source `{name}` add up to {}%", round_percent(given)))
                    .at(last_span, "shares do not add up to 100%")
                    .help(format!("classes: {}; give shares that add up to 100%, or leave one class out to take the rest", classes.join(", "))),
            );
            ok = false;
        }
        let share = if rest.is_empty() {
            0.0
        } else {
            (1.0 - given).max(0.0) / rest.len() as f64
        };
        for class in classes {
            if !s.labels.contains_key(class) {
                s.labels.insert(class.clone(), share);
            }
        }
        let mut ordered = IndexMap::new();
        for class in classes {
            ordered.insert(class.clone(), s.labels[class]);
        }
        s.labels = ordered;
        ok.then_some(s)
    }

    /// `marker "R" top_left` or `marker square bottom_right`
    fn marker(&mut self, entry: &ast::Entry) -> Option<Marker> {
        let corners = ["top_left", "top_right", "bottom_left", "bottom_right"];
        let glyph = match entry.values.first() {
            Some(Value::Str(s)) if !s.value.is_empty() && s.value.chars().count() <= 4 => {
                MarkerGlyph::Text(s.value.clone())
            }
            Some(Value::Str(s)) => {
                self.out_of_range(
                    s.span,
                    "a marker is 1 to 4 characters".into(),
                    "for example: marker \"R\" top_left",
                );
                return None;
            }
            Some(v) => match self
                .choice(v, "marker shape", &["square", "circle", "triangle"])?
                .as_str()
            {
                "square" => MarkerGlyph::Square,
                "circle" => MarkerGlyph::Circle,
                _ => MarkerGlyph::Triangle,
            },
            None => {
                self.missing(
                    entry.span,
                    "`marker`",
                    "a letter or shape",
                    "marker \"R\" top_left",
                );
                return None;
            }
        };
        let corner = match entry.values.get(1) {
            Some(v) => match self.choice(v, "corner", &corners)?.as_str() {
                "top_left" => Corner::TopLeft,
                "top_right" => Corner::TopRight,
                "bottom_left" => Corner::BottomLeft,
                _ => Corner::BottomRight,
            },
            None => Corner::TopLeft,
        };
        if let Some(extra) = entry.values.get(2) {
            self.wrong_type(extra, "nothing more", "the marker");
            return None;
        }
        Some(Marker { glyph, corner })
    }

    fn union_dataset(
        &mut self,
        decl: &Decl,
        call: Option<&ast::Call>,
        origin: Origin,
    ) -> Option<Dataset> {
        let Some(call) = call.filter(|c| c.args.len() >= 2) else {
            let at = decl.value.as_ref().map_or(decl.span, Value::span);
            self.error(
                Diagnostic::new(Code::MissingEntry, "a union combines at least two datasets")
                    .at(at, "too few datasets")
                    .help("write `dataset all = union(a, b)`"),
            );
            return None;
        };
        if let Some(block) = &decl.block {
            self.error(
                Diagnostic::new(Code::UnknownEntry, "a union has no block")
                    .at(block.span, "not allowed")
                    .help("set entries on the datasets it combines"),
            );
        }
        let mut parts = Vec::new();
        for arg in &call.args {
            if let Some(n) = &arg.name {
                self.error(
                    Diagnostic::new(Code::UnknownEntry, "union arguments are dataset names")
                        .at(n.span, "unexpected name")
                        .help("write `union(a, b)`"),
                );
                continue;
            }
            if let Some(part) = self.reference_value(&arg.value, DeclKind::Dataset) {
                if parts.contains(&part) {
                    self.error(
                        Diagnostic::new(
                            Code::DuplicateEntry,
                            format!("`{part}` appears twice in the union"),
                        )
                        .at(arg.span, "again here"),
                    );
                }
                parts.push(part);
            }
        }
        if parts.len() != call.args.len() {
            return None;
        }
        let known: Vec<Option<&Dataset>> =
            parts.iter().map(|p| self.study.datasets.get(p)).collect();
        let merge = |f: &dyn Fn(&Dataset) -> Option<&Vec<String>>| -> Option<Vec<String>> {
            let mut out: Vec<String> = Vec::new();
            for d in &known {
                for x in f((*d)?)? {
                    if !out.contains(x) {
                        out.push(x.clone());
                    }
                }
            }
            Some(out)
        };
        let classes = merge(&|d| d.classes.as_ref());
        let sources = merge(&|d| d.sources.as_ref());
        // A union has masks when every part has them (where they come from stays per part).
        let all_masks = known.iter().all(|d| d.is_some_and(|d| d.masks.is_some()));
        let masks = if all_masks {
            known.first().and_then(|d| d.and_then(|d| d.masks.clone()))
        } else {
            None
        };
        Some(Dataset {
            origin,
            source: DatasetSource::Union { parts },
            classes,
            sources,
            masks,
            on_error: OnError::Fail,
        })
    }

    /// All `keep` filters of a manifest, combined with `and`.
    fn keep_filter(&mut self, e: &Entries, columns: &Columns) -> Option<Filter> {
        let mut filters: Vec<Filter> = e
            .keeps
            .iter()
            .filter_map(|k| self.filter(&k.expr, columns))
            .collect();
        match filters.len() {
            0 => None,
            1 => filters.pop(),
            _ => Some(Filter::And(filters)),
        }
    }

    fn filter(&mut self, expr: &Expr, columns: &Columns) -> Option<Filter> {
        match expr {
            Expr::And(parts, _) => Some(Filter::And(
                parts
                    .iter()
                    .map(|p| self.filter(p, columns))
                    .collect::<Option<_>>()?,
            )),
            Expr::Or(parts, _) => Some(Filter::Or(
                parts
                    .iter()
                    .map(|p| self.filter(p, columns))
                    .collect::<Option<_>>()?,
            )),
            Expr::Not(inner, _) => Some(Filter::Not(Box::new(self.filter(inner, columns)?))),
            Expr::Compare { lhs, op, rhs, span } => {
                let (field_expr, value_expr, op) = match (lhs.as_ref(), rhs.as_ref()) {
                    (Expr::Ref(_), _) => (lhs.as_ref(), rhs.as_ref(), *op),
                    (_, Expr::Ref(_)) => (rhs.as_ref(), lhs.as_ref(), mirror(*op)),
                    _ => {
                        self.error(
                            Diagnostic::new(
                                Code::WrongType,
                                "a filter compares a column with a value",
                            )
                            .at(*span, "no column here")
                            .help("for example: age >= 18"),
                        );
                        return None;
                    }
                };
                let field = self.field(field_expr, columns)?;
                let value = self.literal(value_expr)?;
                let ordering = !matches!(op, ast::CompareOp::Eq | ast::CompareOp::Ne);
                if ordering && matches!(value, Literal::Text(_)) {
                    self.error(
                        Diagnostic::new(
                            Code::WrongType,
                            format!("`{}` orders numbers, not text", op.symbol()),
                        )
                        .at(value_expr.span(), "text here")
                        .help("compare text with `==`, `!=` or `in [...]`"),
                    );
                    return None;
                }
                self.field_accepts(&field, &value, value_expr.span())?;
                Some(Filter::Compare {
                    field,
                    op: compare_op(op),
                    value,
                })
            }
            Expr::In {
                expr,
                list,
                negated,
                ..
            } => {
                let field = self.field(expr, columns)?;
                let mut values = Vec::new();
                for v in list {
                    let lit = match v {
                        Value::Str(s) => Literal::Text(s.value.clone()),
                        Value::Number(n) if n.unit == Unit::None => Literal::Number(n.value),
                        other => {
                            self.wrong_type(other, "a string or a number", "a list element");
                            return None;
                        }
                    };
                    self.field_accepts(&field, &lit, v.span())?;
                    values.push(lit);
                }
                Some(Filter::In {
                    field,
                    values,
                    negated: *negated,
                })
            }
            Expr::Missing { expr, negated, .. } => Some(Filter::Missing {
                field: self.field(expr, columns)?,
                negated: *negated,
            }),
            other => {
                self.error(
                    Diagnostic::new(Code::WrongType, "a `keep` filter must be a condition")
                        .at(other.span(), "not a condition")
                        .help("for example: keep view in [\"PA\", \"AP\"] and age is not missing"),
                );
                None
            }
        }
    }

    /// A column in a filter: a role (`age`), an extra metadata name, a raw column name, or `column("X")`.
    fn field(&mut self, expr: &Expr, columns: &Columns) -> Option<Field> {
        let Expr::Ref(r) = expr else {
            self.error(
                Diagnostic::new(Code::WrongType, "expected a column name")
                    .at(expr.span(), "not a column")
                    .help("for example: view, age, or column(\"Finding Labels\")"),
            );
            return None;
        };
        match (r.segments.as_slice(), r.selector.is_empty()) {
            ([seg], true) if seg.args.is_none() => {
                let name = &seg.name.name;
                if ROLES.contains(&name.as_str()) || columns.extra.contains_key(name) {
                    Some(Field::Role(name.clone()))
                } else {
                    Some(Field::Column(name.clone()))
                }
            }
            ([seg], true) if seg.name.name == "column" => match seg.args.as_deref() {
                Some([ast::SegmentArg::Str(s)]) => Some(Field::Column(s.value.clone())),
                _ => {
                    self.error(
                        Diagnostic::new(Code::WrongType, "`column(...)` takes one string")
                            .at(seg.span, "expected `column(\"NAME\")`"),
                    );
                    None
                }
            },
            _ => {
                self.error(
                    Diagnostic::new(Code::WrongType, "a filter refers to a column by name")
                        .at(r.span, "not a column")
                        .help("for example: view, age, or column(\"Finding Labels\")"),
                );
                None
            }
        }
    }

    fn literal(&mut self, expr: &Expr) -> Option<Literal> {
        match expr {
            Expr::Number(n) if n.unit == Unit::None => Some(Literal::Number(n.value)),
            Expr::Neg(inner, _) => match inner.as_ref() {
                Expr::Number(n) if n.unit == Unit::None => Some(Literal::Number(-n.value)),
                other => {
                    self.error(
                        Diagnostic::new(Code::WrongType, "expected a number")
                            .at(other.span(), "not a number"),
                    );
                    None
                }
            },
            Expr::Str(s) => Some(Literal::Text(s.value.clone())),
            other => {
                self.error(
                    Diagnostic::new(
                        Code::WrongType,
                        "a filter compares with a literal string or number",
                    )
                    .at(other.span(), "not a literal")
                    .help("for example: sex == \"F\" or age < 18"),
                );
                None
            }
        }
    }

    /// Ages are numbers; sex, view, source, label, patient and image are text.
    fn field_accepts(&mut self, field: &Field, value: &Literal, span: Span) -> Option<()> {
        let Field::Role(role) = field else {
            return Some(());
        };
        let numeric = role == "age";
        let textual = ROLES.contains(&role.as_str()) && !numeric;
        match value {
            Literal::Text(_) if numeric => {
                self.error(
                    Diagnostic::new(Code::WrongType, "`age` is a number")
                        .at(span, "text compared with a number")
                        .help("write the age without quotes: age >= 18"),
                );
                None
            }
            Literal::Number(_) if textual => {
                self.error(
                    Diagnostic::new(Code::WrongType, format!("`{role}` is text"))
                        .at(span, "number compared with text")
                        .help(format!("quote the value: {role} == \"...\"")),
                );
                None
            }
            _ => Some(()),
        }
    }

    // -----------------------------------------------------------------------------------------------------
    // Crops

    pub(super) fn crop(&mut self, decl: &Decl) -> Option<Crop> {
        let options = [
            "full",
            "box",
            "center",
            "lung_box",
            "occlude",
            "keep_only",
            "border_only",
        ];
        let (variant, call) = self.variant(
            decl,
            &options,
            "crop lungs = lung_box(dataset) { margin 5% }",
        )?;
        let origin = self.origin(decl.name_span());
        let name = variant.name.as_str();
        let allowed: &[&str] = if name == "lung_box" {
            &["margin", "reject_below", "reject"]
        } else {
            &[]
        };
        let e = self.entries(
            decl.block.as_ref(),
            &format!("crop `{name}`"),
            allowed,
            Allow::default(),
            decl.span,
        );
        let op = match (name, call) {
            ("full", None) => CropOp::Full,
            ("box", Some(c)) => CropOp::Box {
                rect: self.rect(c)?,
            },
            ("center", Some(c)) => {
                let args = self.args(c, "`center`", &["size"], 1);
                let v = args.get("size").or_else(|| {
                    self.missing(c.span, "`center`", "size", "center(80%)");
                    None
                })?;
                let fraction = self.fraction(v, "the centre box size")?;
                if fraction == 0.0 {
                    self.out_of_range(
                        v.span(),
                        "the centre box is empty".into(),
                        "use a size above 0%",
                    );
                    return None;
                }
                CropOp::Center { fraction }
            }
            ("lung_box", Some(c)) => {
                let args = self.args(c, "`lung_box`", &["masks"], 1);
                let masks = self.mask_source(args.get("masks"), c.span)?;
                let margin = match e.get("margin").and_then(|m| self.one(m)) {
                    Some(v) => self.fraction(v, "the margin")?,
                    None => 0.0,
                };
                let reject_below = self.reject_threshold(&e)?;
                CropOp::LungBox {
                    masks,
                    margin,
                    reject_below,
                }
            }
            ("occlude" | "keep_only", Some(c)) => {
                let args = self.args(c, &format!("`{name}`"), &["region"], 1);
                let region = self.region(args.get("region"), c.span)?;
                if name == "occlude" {
                    CropOp::Occlude { region }
                } else {
                    CropOp::KeepOnly { region }
                }
            }
            ("border_only", Some(c)) => {
                let args = self.args(c, "`border_only`", &["width"], 1);
                let v = args.get("width").or_else(|| {
                    self.missing(c.span, "`border_only`", "width", "border_only(10%)");
                    None
                })?;
                let width = self.fraction(v, "the border width")?;
                if width <= 0.0 || width >= 0.5 {
                    self.out_of_range(
                        v.span(),
                        "the border width must be above 0% and below 50%".into(),
                        "for example: border_only(10%)",
                    );
                    return None;
                }
                CropOp::BorderOnly { width }
            }
            ("full", Some(c)) => {
                self.error(
                    Diagnostic::new(Code::UnknownEntry, "`full` takes no arguments")
                        .at(c.span, "remove the parentheses"),
                );
                return None;
            }
            (_, None) => {
                let example = match name {
                    "box" => "box(10%, 10%, 80%, 80%)",
                    "center" => "center(80%)",
                    "lung_box" => "lung_box(dataset)",
                    "border_only" => "border_only(10%)",
                    _ => "occlude(lungs(dataset))",
                };
                self.missing(variant.span, &format!("`{name}`"), "arguments", example);
                return None;
            }
            _ => return None,
        };
        Some(Crop { origin, op })
    }

    /// `reject_below 50%`, or as prose `reject smaller than 50%`: boxes at most this share of the image
    /// height or width are dropped.
    fn reject_threshold(&mut self, e: &Entries) -> Option<f64> {
        let value = match (e.get("reject_below"), e.get("reject")) {
            (None, None) => return Some(0.0),
            (Some(a), Some(b)) => {
                self.error(
                    Diagnostic::new(
                        Code::DuplicateEntry,
                        "the rejection threshold is given twice",
                    )
                    .at(b.span, "given again here")
                    .also(a.span, "first given here")
                    .help("keep one of them"),
                );
                return None;
            }
            (Some(entry), None) => self.one(entry)?,
            (None, Some(entry)) => match entry.values.as_slice() {
                [smaller, than, v]
                    if smaller.as_ident().is_some_and(|i| i.name == "smaller")
                        && than.as_ident().is_some_and(|i| i.name == "than") =>
                {
                    v
                }
                _ => {
                    self.error(
                        Diagnostic::new(
                            Code::WrongType,
                            "`reject` reads `reject smaller than SHARE`",
                        )
                        .at(entry.span, "expected `reject smaller than 50%`")
                        .help("or write `reject_below 50%`"),
                    );
                    return None;
                }
            },
        };
        self.fraction(value, "the rejection threshold")
    }

    /// `box(x, y, w, h)` in fractions (`%`) or pixels (`px`).
    fn rect(&mut self, call: &ast::Call) -> Option<Rect> {
        let args = self.args(call, "`box`", &["x", "y", "w", "h"], 4);
        let mut vals = Vec::new();
        for name in ["x", "y", "w", "h"] {
            let Some(v) = args.get(name) else {
                self.missing(call.span, "`box`", name, "box(10%, 10%, 80%, 80%)");
                return None;
            };
            vals.push(v);
        }
        let pixels = vals
            .iter()
            .all(|v| matches!(v, Value::Number(n) if n.unit == Unit::Px));
        if pixels {
            let p: Vec<u32> = vals
                .iter()
                .map(|v| {
                    self.integer(v, "a box coordinate", 0, 65536, true)
                        .map(|x| x as u32)
                })
                .collect::<Option<_>>()?;
            if p[2] == 0 || p[3] == 0 {
                self.out_of_range(
                    call.span,
                    "the box is empty".into(),
                    "give it a width and height above 0",
                );
                return None;
            }
            return Some(Rect::Pixels {
                x: p[0],
                y: p[1],
                w: p[2],
                h: p[3],
            });
        }
        if vals
            .iter()
            .any(|v| matches!(v, Value::Number(n) if n.unit == Unit::Px))
        {
            self.error(
                Diagnostic::new(
                    Code::WrongType,
                    "a box is given all in pixels or all in percentages",
                )
                .at(call.span, "mixed units")
                .help("write box(10%, 10%, 80%, 80%) or box(16px, 16px, 96px, 96px)"),
            );
            return None;
        }
        let f: Vec<f64> = vals
            .iter()
            .map(|v| self.fraction(v, "a box coordinate"))
            .collect::<Option<_>>()?;
        if f[2] == 0.0 || f[3] == 0.0 || f[0] + f[2] > 1.0 + 1e-9 || f[1] + f[3] > 1.0 + 1e-9 {
            self.out_of_range(
                call.span,
                "the box must be non-empty and lie inside the image".into(),
                "x + w and y + h must be at most 100%",
            );
            return None;
        }
        Some(Rect::Fraction {
            x: f[0],
            y: f[1],
            w: f[2],
            h: f[3],
        })
    }

    /// `dataset` (the dataset's own masks) or a segmenter's name.
    fn mask_source(&mut self, v: Option<&Value>, at: Span) -> Option<MaskSource> {
        let Some(v) = v else {
            self.missing(
                at,
                "this crop",
                "masks",
                "lung_box(dataset) or lung_box(my_segmenter)",
            );
            return None;
        };
        let id = self.ident(v, "the mask source")?;
        if id.name == "dataset" {
            return Some(MaskSource::Dataset);
        }
        self.reference(id, DeclKind::Segmenter)
            .map(MaskSource::Segmenter)
    }

    /// `lungs(MASKS)`, `box(...)`, or a bare mask source (the lungs).
    fn region(&mut self, v: Option<&Value>, at: Span) -> Option<Region> {
        match v {
            Some(Value::Call(c)) if c.name.name == "box" => self.rect(c).map(Region::Box),
            Some(Value::Call(c)) if c.name.name == "lungs" => {
                let args = self.args(c, "`lungs`", &["masks"], 1);
                self.mask_source(args.get("masks"), c.span)
                    .map(Region::Lungs)
            }
            Some(Value::Call(c)) => {
                self.error(
                    Diagnostic::new(
                        Code::UnknownConstructor,
                        format!("unknown region `{}`", c.name.name),
                    )
                    .at(c.name.span, "unknown region")
                    .help(crate::diagnostics::did_you_mean(
                        &c.name.name,
                        &["lungs", "box"],
                    )),
                );
                None
            }
            other => self.mask_source(other, at).map(Region::Lungs),
        }
    }

    // -----------------------------------------------------------------------------------------------------
    // Preprocessing

    pub(super) fn preprocess(&mut self, decl: &Decl) -> Option<Preprocess> {
        if let Some(v) = &decl.value {
            self.wrong_type(
                v,
                "a block (`preprocess p { resize 224 }`)",
                "a preprocessing",
            );
        }
        let allowed = [
            "channels",
            "resize",
            "interpolation",
            "rescale",
            "normalize",
            "augment",
        ];
        let (owner, e) = self.decl_entries(decl, &allowed, Allow::default());
        let channels = match e.get("channels").and_then(|c| self.one(c)) {
            Some(v) => {
                let c = self.count(v, "the channel count", 1, 3)?;
                if c == 2 {
                    self.out_of_range(
                        v.span(),
                        "images have 1 (gray) or 3 (RGB) channels".into(),
                        "use 1 or 3",
                    );
                    return None;
                }
                c
            }
            None => 1,
        };
        let resize = match e.get("resize").and_then(|r| self.one(r)) {
            Some(v) => self.integer(v, "the image size", 8, 4096, true)? as u32,
            None => {
                self.missing(e.span, &owner, "resize", "resize 224");
                return None;
            }
        };
        let interpolation = match e
            .get("interpolation")
            .and_then(|x| self.one(x))
            .map(|v| self.choice(v, "interpolation", &["auto", "area", "bilinear", "nearest"]))
        {
            Some(None) => return None,
            Some(Some(i)) => match i.as_str() {
                "area" => Interpolation::Area,
                "bilinear" => Interpolation::Bilinear,
                "nearest" => Interpolation::Nearest,
                _ => Interpolation::Auto,
            },
            None => Interpolation::Auto,
        };
        let rescale = match e
            .get("rescale")
            .and_then(|x| self.one(x))
            .map(|v| self.choice(v, "rescaling", &["none", "min_max"]))
        {
            Some(None) => return None,
            Some(Some(r)) if r == "min_max" => Rescale::MinMax,
            _ => Rescale::None,
        };
        let normalize = match e.get("normalize").and_then(|x| self.one(x)) {
            Some(Value::Call(c)) if c.name.name == "fixed" => {
                let args = self.args(c, "`fixed`", &["mean", "std"], 2);
                let mean = args.get("mean").and_then(|v| self.number(v, "the mean"));
                let std = args
                    .get("std")
                    .and_then(|v| self.positive(v, "the standard deviation"));
                match (mean, std) {
                    (Some(mean), Some(std)) => Normalize::Fixed { mean, std },
                    _ => {
                        if args.get("mean").is_none() || args.get("std").is_none() {
                            self.missing(
                                c.span,
                                "`fixed`",
                                "mean and std",
                                "fixed(mean: 0.5, std: 0.25)",
                            );
                        }
                        return None;
                    }
                }
            }
            Some(v) => match self
                .choice(
                    v,
                    "normalisation",
                    &["none", "per_image", "train_stats", "fixed"],
                )?
                .as_str()
            {
                "per_image" => Normalize::PerImage,
                "train_stats" => Normalize::TrainStats,
                "fixed" => {
                    self.missing(
                        v.span(),
                        "`fixed`",
                        "mean and std",
                        "fixed(mean: 0.5, std: 0.25)",
                    );
                    return None;
                }
                _ => Normalize::None,
            },
            None => Normalize::PerImage,
        };
        let augment = match e.get("augment") {
            Some(a) => Some(self.augment(a)?),
            None => None,
        };
        Some(Preprocess {
            origin: self.origin(decl.name_span()),
            channels,
            resize,
            interpolation,
            rescale,
            normalize,
            augment,
        })
    }

    fn augment(&mut self, entry: &ast::Entry) -> Option<Augment> {
        if !entry.values.is_empty() || entry.block.is_none() {
            self.error(
                Diagnostic::new(Code::WrongType, "`augment` takes a block")
                    .at(entry.span, "expected `augment { ... }`")
                    .help("for example: augment { flip 50%, rotate 5, translate 5% }"),
            );
            return None;
        }
        let allowed = ["flip", "rotate", "translate", "brightness", "contrast"];
        let e = self.entries(
            entry.block.as_ref(),
            "augment",
            &allowed,
            Allow::default(),
            entry.span,
        );
        let mut a = Augment {
            flip: 0.0,
            rotate: 0.0,
            translate: 0.0,
            brightness: 0.0,
            contrast: 0.0,
        };
        let mut ok = true;
        if let Some(v) = e.get("flip").and_then(|x| self.one(x)) {
            a.flip = self.fraction(v, "the flip probability").unwrap_or_else(|| {
                ok = false;
                0.0
            });
        }
        if let Some(v) = e.get("rotate").and_then(|x| self.one(x)) {
            a.rotate = self
                .number_in(v, "the rotation (degrees)", 0.0, 45.0)
                .unwrap_or_else(|| {
                    ok = false;
                    0.0
                });
        }
        for (key, field) in [
            ("translate", &mut a.translate),
            ("brightness", &mut a.brightness),
            ("contrast", &mut a.contrast),
        ] {
            if let Some(v) = e.get(key).and_then(|x| self.one(x)) {
                match self.fraction(v, &format!("the {key} range")) {
                    Some(x) => *field = x,
                    None => ok = false,
                }
            }
        }
        ok.then_some(a)
    }

    // -----------------------------------------------------------------------------------------------------
    // Segmenters

    pub(super) fn segmenter(&mut self, decl: &Decl) -> Option<Segmenter> {
        let (_, call) = self.variant(
            decl,
            &["unet"],
            "segmenter lungs = unet(depth: 4) { data lung_masks }",
        )?;
        let (mut depth, mut base) = (4, 16);
        if let Some(call) = call {
            let args = self.args(call, "`unet`", &["depth", "base"], 0);
            if let Some(v) = args.get("depth") {
                depth = self.count(v, "the U-Net depth", 1, 7)?;
            }
            if let Some(v) = args.get("base") {
                base = self.count(v, "the base channel count", 1, 256)?;
            }
        }
        let allowed = [
            "data",
            "train",
            "weights",
            "epochs",
            "batch",
            "lr",
            "holdout",
            "size",
            "threshold",
        ];
        let (owner, e) = self.decl_entries(decl, &allowed, Allow::default());
        let size = match e.get("size").and_then(|x| self.one(x)) {
            Some(v) => self.integer(v, "the segmenter input size", 16, 2048, true)? as u32,
            None => 256,
        };
        if size % (1 << depth) != 0 {
            let at = e.get("size").map_or(decl.name_span(), |s| s.span);
            self.error(
                Diagnostic::new(
                    Code::InputTooSmall,
                    format!(
                        "a U-Net of depth {depth} needs a size divisible by {}",
                        1 << depth
                    ),
                )
                .at(at, "size not divisible")
                .help(format!(
                    "use a multiple of {}, such as {}",
                    1 << depth,
                    (size / (1 << depth)).max(1) * (1 << depth)
                )),
            );
            return None;
        }
        let threshold = match e.get("threshold").and_then(|x| self.one(x)) {
            Some(v) => self.number_in(v, "the mask threshold", 0.0, 1.0)?,
            None => 0.5,
        };
        // `train on lung_masks` reads as prose; `data lung_masks` is the same.
        let training_data = match (e.get("data"), e.get("train")) {
            (Some(d), Some(t)) => {
                self.error(
                    Diagnostic::new(Code::DuplicateEntry, "the training data is given twice")
                        .at(t.span, "given again here")
                        .also(d.span, "first given here")
                        .help("keep one of them"),
                );
                return None;
            }
            (d, t) => d.or(t),
        };
        let source = match (training_data, e.get("weights")) {
            (Some(d), None) => {
                let data_value = match d.values.as_slice() {
                    [on, v]
                        if d.key.name == "train"
                            && on.as_ident().is_some_and(|i| i.name == "on") =>
                    {
                        v
                    }
                    _ if d.key.name == "train" => {
                        self.error(
                            Diagnostic::new(Code::WrongType, "`train` reads `train on DATASET`")
                                .at(d.span, "expected `train on my_masks`")
                                .help("or write `data my_masks`"),
                        );
                        return None;
                    }
                    _ => self.one(d)?,
                };
                let data = self.reference_value(data_value, DeclKind::Dataset)?;
                if let Some(ds) = self.study.datasets.get(&data)
                    && ds.masks.is_none()
                {
                    self.error(
                        Diagnostic::new(
                            Code::IncompatibleChoice,
                            format!("dataset `{data}` has no lung masks to train on"),
                        )
                        .at(data_value.span(), "no masks")
                        .also(self.symbol_span(&data), "declared here")
                        .help("give the dataset `mask column \"...\"` or `masks \"folder\"`"),
                    );
                    return None;
                }
                let epochs = match e.get("epochs").and_then(|x| self.one(x)) {
                    Some(v) => self.count(v, "epochs", 1, 100_000)?,
                    None => 20,
                };
                let batch = match e.get("batch").and_then(|x| self.one(x)) {
                    Some(v) => self.count(v, "the batch size", 1, 4096)?,
                    None => 8,
                };
                let lr = match e.get("lr").and_then(|x| self.one(x)) {
                    Some(v) => self.positive(v, "the learning rate")?,
                    None => 1e-3,
                };
                let holdout = match e.get("holdout").and_then(|x| self.one(x)) {
                    Some(v) => self.fraction(v, "the held-out share")?,
                    None => 0.2,
                };
                SegmenterSource::Train {
                    data,
                    epochs,
                    batch,
                    lr,
                    holdout,
                }
            }
            (None, Some(w)) => {
                for key in ["epochs", "batch", "lr", "holdout"] {
                    if let Some(x) = e.get(key) {
                        self.error(
                            Diagnostic::new(
                                Code::IncompatibleChoice,
                                format!("`{key}` only applies to a segmenter trained here"),
                            )
                            .at(x.span, "ignored with `weights`")
                            .help("remove it, or train with `data` instead of `weights`"),
                        );
                    }
                }
                let v = self.one(w)?;
                SegmenterSource::Weights {
                    path: self.path(v, "the weights file")?,
                }
            }
            (Some(d), Some(w)) => {
                self.error(
                    Diagnostic::new(
                        Code::IncompatibleChoice,
                        "a segmenter is either trained (`data`) or loaded (`weights`)",
                    )
                    .at(w.span, "weights")
                    .also(d.span, "training data")
                    .help("keep one of them"),
                );
                return None;
            }
            (None, None) => {
                self.missing(
                    e.span,
                    &owner,
                    "data",
                    "data lung_masks   (or: weights \"unet.safetensors\")",
                );
                return None;
            }
        };
        Some(Segmenter {
            origin: self.origin(decl.name_span()),
            depth,
            base_channels: base,
            size,
            threshold,
            source,
        })
    }

    pub(super) fn symbol_span(&self, name: &str) -> Span {
        self.symbols
            .get(name)
            .map(|s| s.span)
            .unwrap_or(Span::new(crate::source::FileId(0), 0, 0))
    }
}

fn label_map_classes(map: &LabelMap) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in map.entries.values().chain(map.wildcard.iter()) {
        if let LabelTarget::Class(c) = t
            && !out.contains(c)
        {
            out.push(c.clone());
        }
    }
    out
}

fn round_percent(x: f64) -> String {
    let p = (x * 1000.0).round() / 10.0;
    format!("{p}")
}

fn mirror(op: ast::CompareOp) -> ast::CompareOp {
    use ast::CompareOp::*;
    match op {
        Lt => Gt,
        Le => Ge,
        Gt => Lt,
        Ge => Le,
        other => other,
    }
}

pub fn compare_op(op: ast::CompareOp) -> CompareOp {
    match op {
        ast::CompareOp::Eq => CompareOp::Eq,
        ast::CompareOp::Ne => CompareOp::Ne,
        ast::CompareOp::Lt => CompareOp::Lt,
        ast::CompareOp::Le => CompareOp::Le,
        ast::CompareOp::Gt => CompareOp::Gt,
        ast::CompareOp::Ge => CompareOp::Ge,
    }
}
