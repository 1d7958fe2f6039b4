//! Grids of an experiment: `grid`, `zip`, single axes and `exclude`, expanded into grid points.

use crate::check::Checker;
use crate::check::values::{Allow, Entries, conflict};
use crate::diagnostics::{Code, Diagnostic, did_you_mean};
use crate::source::Span;
use crate::study::*;
use crate::syntax::ast::{self, DeclKind, Value};
use indexmap::IndexMap;

/// The declaration kind each grid axis refers to.
pub(in crate::check) fn axis_kind(axis: &str) -> DeclKind {
    match axis {
        "model" => DeclKind::Model,
        "crop" => DeclKind::Crop,
        "split" => DeclKind::Split,
        "preprocess" => DeclKind::Preprocess,
        _ => DeclKind::Train,
    }
}

/// Values of one axis with the spans they were written at.
type AxisValues = Vec<(String, Span)>;

/// An expanded grid: its points, the axes that vary, and where each referenced name was written.
type Grid = (Vec<GridPoint>, Vec<String>, IndexMap<String, Span>);

/// True when `axis` is written anywhere in the experiment (on its own, in `grid` or in `zip`).
pub(in crate::check) fn mentioned(e: &Entries, axis: &str) -> bool {
    e.has(axis)
        || ["grid", "zip"].iter().any(|group| {
            e.get(group)
                .and_then(|g| g.block.as_ref())
                .is_some_and(|b| {
                    b.items
                        .iter()
                        .any(|i| matches!(i, ast::BlockItem::Entry(x) if x.key.name == axis))
                })
        })
}

pub(in crate::check) fn unique(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

impl Checker<'_> {
    /// Expands `grid`, `zip`, single axes and `exclude` into grid points.
    pub(in crate::check) fn grid(&mut self, e: &Entries, owner: &str) -> Option<Grid> {
        let mut axes: IndexMap<&str, AxisValues> = IndexMap::new();
        let mut zipped: Vec<&str> = Vec::new();
        let mut written_at: IndexMap<&str, Span> = IndexMap::new();
        let mut spans: IndexMap<String, Span> = IndexMap::new();
        let mut ok = true;
        let mut add_axis = |this: &mut Self,
                            axis: &str,
                            v: &Value,
                            at: Span,
                            axes: &mut IndexMap<&str, AxisValues>,
                            spans: &mut IndexMap<String, Span>|
         -> bool {
            let Some(key) = GRID_AXES.iter().find(|a| **a == axis).copied() else {
                return false;
            };
            if let Some(first) = written_at.get(key) {
                this.error(
                    conflict(
                        Code::EmptyGrid,
                        format!("axis `{axis}` is given twice"),
                        at,
                        *first,
                    )
                    .help("each axis is set once: in `grid`, in `zip`, or on its own"),
                );
                return false;
            }
            written_at.insert(key, at);
            let mut values = Vec::new();
            let mut fine = true;
            for item in this.list(v) {
                match this.reference_value(item, axis_kind(axis)) {
                    Some(name) => {
                        spans.entry(name.clone()).or_insert(item.span());
                        if values.iter().any(|(n, _): &(String, Span)| *n == name) {
                            this.error(
                                Diagnostic::new(
                                    Code::EmptyGrid,
                                    format!("`{name}` is listed twice on axis `{axis}`"),
                                )
                                .at(item.span(), "listed again"),
                            );
                            fine = false;
                        }
                        values.push((name, item.span()));
                    }
                    None => fine = false,
                }
            }
            if values.is_empty() && fine {
                this.error(
                    Diagnostic::new(Code::EmptyGrid, format!("axis `{axis}` has no values"))
                        .at(v.span(), "empty list"),
                );
                fine = false;
            }
            axes.insert(key, values);
            fine
        };
        for group in ["grid", "zip"] {
            let Some(entry) = e.get(group) else { continue };
            let Some(inner) = self.axis_block(entry, "model [small, resnet50], crop [full, lungs]")
            else {
                ok = false;
                continue;
            };
            for (axis, axis_entry) in &inner.map {
                let Some(v) = self.one(axis_entry) else {
                    ok = false;
                    continue;
                };
                ok &= add_axis(self, axis, v, axis_entry.span, &mut axes, &mut spans);
                if group == "zip"
                    && let Some(key) = GRID_AXES.iter().find(|a| *a == axis)
                {
                    zipped.push(key);
                }
            }
        }
        for axis in GRID_AXES {
            if let Some(entry) = e.get(axis) {
                match self.one(entry) {
                    Some(v) => ok &= add_axis(self, axis, v, entry.span, &mut axes, &mut spans),
                    None => ok = false,
                }
            }
        }
        for axis in GRID_AXES {
            if !mentioned(e, axis) {
                self.missing(e.span, owner, axis, &format!("{axis} my_{axis}"));
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        // zip: the lists advance together, so they must be equally long.
        let zip_len = zipped.first().map(|a| axes[*a].len());
        for axis in &zipped {
            if Some(axes[*axis].len()) != zip_len {
                let entry = e.get("zip").map_or(e.span, |z| z.span);
                self.error(
                    Diagnostic::new(Code::EmptyGrid, "the lists of a `zip` must be equally long")
                        .at(
                            entry,
                            format!(
                                "`{}` has {} value(s), `{}` has {}",
                                zipped[0],
                                zip_len.unwrap_or(0),
                                axis,
                                axes[*axis].len()
                            ),
                        )
                        .help("give every zipped axis the same number of values"),
                );
                return None;
            }
        }
        // The product is known before the points are made: a grid over the limit is never expanded.
        let product = GRID_AXES
            .iter()
            .filter(|a| !zipped.contains(a))
            .map(|a| axes[*a].len() as u64)
            .chain(zip_len.map(|n| n as u64))
            .fold(1u64, u64::saturating_mul);
        let limit = self.study.training_limit();
        if product > limit {
            let at = e.get("grid").map_or(e.span, |g| g.span);
            self.error(
                Diagnostic::new(
                    Code::TooManyTrainings,
                    format!("the grid has {product} points, over the study's limit of {limit} trainings"),
                )
                .at(at, "this grid")
                .help(format!(
                    "vary fewer axes, or raise the limit in the study header: `max_trainings {product}`"
                )),
            );
            return None;
        }
        let mut points: Vec<GridPoint> = vec![GridPoint {
            model: String::new(),
            crop: String::new(),
            split: String::new(),
            preprocess: String::new(),
            train: String::new(),
        }];
        let set = |p: &mut GridPoint, axis: &str, v: &str| match axis {
            "model" => p.model = v.into(),
            "crop" => p.crop = v.into(),
            "split" => p.split = v.into(),
            "preprocess" => p.preprocess = v.into(),
            _ => p.train = v.into(),
        };
        for axis in GRID_AXES.iter().filter(|a| !zipped.contains(a)) {
            let mut next = Vec::new();
            for p in &points {
                for (v, _) in &axes[*axis] {
                    let mut q = p.clone();
                    set(&mut q, axis, v);
                    next.push(q);
                }
            }
            points = next;
        }
        if let Some(n) = zip_len {
            let mut next = Vec::new();
            for p in &points {
                for i in 0..n {
                    let mut q = p.clone();
                    for axis in &zipped {
                        set(&mut q, axis, &axes[*axis][i].0);
                    }
                    next.push(q);
                }
            }
            points = next;
        }
        for exclude in &e.repeated {
            let inner = self.axis_block(exclude, "model resnet50, crop lungs_out")?;
            let mut conditions: Vec<(&str, Vec<String>)> = Vec::new();
            for (axis, entry) in &inner.map {
                let v = self.one(entry)?;
                let mut values = Vec::new();
                for item in self.list(v) {
                    let id = self.ident(item, "an axis value")?;
                    if !axes[*axis].iter().any(|(n, _)| *n == id.name) {
                        let options: Vec<&str> =
                            axes[*axis].iter().map(|(n, _)| n.as_str()).collect();
                        self.error(
                            Diagnostic::new(
                                Code::EmptyGrid,
                                format!("`{}` is not on axis `{axis}` of this grid", id.name),
                            )
                            .at(id.span, "not in the grid")
                            .help(did_you_mean(&id.name, &options)),
                        );
                        return None;
                    }
                    values.push(id.name.clone());
                }
                conditions.push((axis, values));
            }
            let before = points.len();
            points.retain(|p| {
                !conditions.iter().all(|(axis, values)| {
                    p.axis(axis).is_some_and(|v| values.iter().any(|x| x == v))
                })
            });
            if points.len() == before {
                self.error(
                    Diagnostic::new(Code::EmptyGrid, "this `exclude` removes no grid cell")
                        .at(exclude.span, "matches nothing")
                        .help("an exclude removes the cells that match all of its axis values"),
                );
                return None;
            }
        }
        if points.is_empty() {
            let at = e.repeated.last().map_or(e.span, |x| x.span);
            self.error(
                Diagnostic::new(Code::EmptyGrid, "every grid cell is excluded")
                    .at(at, "nothing left to run")
                    .help("remove an exclude or widen the grid"),
            );
            return None;
        }
        let varying: Vec<String> = GRID_AXES
            .iter()
            .filter(|axis| {
                unique(
                    points
                        .iter()
                        .filter_map(|p| p.axis(axis).map(str::to_string)),
                )
                .len()
                    > 1
            })
            .map(|a| a.to_string())
            .collect();
        Some((points, varying, spans))
    }

    /// The block of a `grid`, `zip`, `exclude` or `at` entry, whose keys are grid axes.
    pub(in crate::check) fn axis_block<'b>(
        &mut self,
        entry: &'b ast::Entry,
        example: &str,
    ) -> Option<Entries<'b>> {
        let key = &entry.key.name;
        let Some(block) = entry.block.as_ref().filter(|_| entry.values.is_empty()) else {
            self.error(
                Diagnostic::new(
                    Code::WrongType,
                    format!("`{key}` takes a block of grid axes"),
                )
                .at(entry.span, "expected a block")
                .help(format!("for example: {key} {{ {example} }}")),
            );
            return None;
        };
        Some(self.entries(
            Some(block),
            &format!("`{key}`"),
            &GRID_AXES,
            Allow::default(),
            block.span,
        ))
    }

    /// Checks each (model, preprocess, crop, split, train) combination of a grid for compatibility.
    pub(in crate::check) fn grid_compatible(
        &mut self,
        points: &[GridPoint],
        spans: &IndexMap<String, Span>,
    ) -> bool {
        let mut ok = true;
        let mut reported: Vec<(String, String)> = Vec::new();
        for p in points {
            let setup = Setup {
                model: p.model.clone(),
                crop: p.crop.clone(),
                split: p.split.clone(),
                preprocess: p.preprocess.clone(),
                train: p.train.clone(),
            };
            let at = |name: &str| spans.get(name).copied();
            for (a, b, problem) in self.setup_problems(&setup) {
                if reported.contains(&(a.clone(), b.clone())) {
                    continue;
                }
                reported.push((a.clone(), b.clone()));
                let span = at(&a)
                    .or_else(|| at(&b))
                    .unwrap_or_else(|| self.symbol_span(&a));
                let mut d = problem.at_span(span);
                if let Some(other) = at(&b).filter(|s| *s != span) {
                    d = d.also(other, format!("`{b}` here"));
                }
                self.error(d);
                ok = false;
            }
        }
        ok
    }
}
