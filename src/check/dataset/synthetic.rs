//! Synthetic datasets: generated chest X-rays with planted confounders.

use crate::check::Checker;
use crate::check::values::Allow;
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::study::*;
use crate::syntax::ast::{self, Decl, Unit, Value};
use indexmap::IndexMap;

pub(in crate::check) const SYNTHETIC_ENTRIES: &[&str] = &["size", "classes", "signal", "source*"];

pub(in crate::check) const SOURCE_PARAMS: &[&str] = &[
    "images", "age", "male", "ap", "gamma", "contrast", "noise", "blur", "offset", "invert",
    "marker", "border", "stretch",
];

/// Classes the synthetic generator knows how to draw.
pub(in crate::check) const SYNTHETIC_CLASSES: &[&str] = &["covid", "pneumonia", "normal"];

pub(in crate::check) fn round_percent(x: f64) -> String {
    super::super::values::percent_text(x)
}

impl Checker<'_> {
    pub(in crate::check) fn synthetic_dataset(
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
        let e = self.block_entries(decl, owner, SYNTHETIC_ENTRIES);
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
            max_pixels: None,
        })
    }

    pub(in crate::check) fn synthetic_source(
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
        let mut s = SyntheticSource::default();
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
    pub(in crate::check) fn marker(&mut self, entry: &ast::Entry) -> Option<Marker> {
        let corners = ["top_left", "top_right", "bottom_left", "bottom_right"];
        let glyph = match entry.values.first() {
            Some(Value::Str(s)) if !s.value.is_empty() && s.value.chars().count() <= 4 => {
                let undrawable: String = s
                    .value
                    .chars()
                    .filter(|c| !MARKER_CHARACTERS.contains(c.to_ascii_uppercase()))
                    .collect();
                if !undrawable.is_empty() {
                    self.suspicious(
                        s.span,
                        format!("the marker font cannot draw `{undrawable}`: each such character is burned in as a box"),
                        "use letters, digits, spaces, `+` or `-`",
                    );
                }
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
}
