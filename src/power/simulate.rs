//! The verdicts of a study's synthetic twin counted over seeds: per hypothesis and scenario, how often it
//! came out confirmed, refuted and inconclusive, each share with its Wilson interval — under the shortcut
//! scenario the detection rate, under the null scenario the false-alarm rate. Rendered as text, JSON and a
//! page with one figure per hypothesis.

use super::twin::{Reduced, Scenario};
use crate::eval::metrics::wilson_interval;
use serde::Serialize;
use std::fmt::Write;

/// The outcomes a verdict can have, in the order they are shown.
pub const OUTCOMES: [&str; 3] = ["confirmed", "refuted", "inconclusive"];

/// One run of the twin: its scenario and seed, each hypothesis's outcome, or why it failed.
#[derive(Clone, Debug, Serialize)]
pub struct Replicate {
    pub scenario: Scenario,
    pub seed: u64,
    /// `(hypothesis, outcome)`.
    pub outcomes: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// A share of replicates with its Wilson interval (95 %).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rate {
    pub count: usize,
    pub of: usize,
    pub share: f64,
    pub lower: f64,
    pub upper: f64,
}

impl Rate {
    fn new(count: usize, of: usize) -> Rate {
        let i = wilson_interval(count, of, 0.95);
        Rate {
            count,
            of,
            share: if of > 0 {
                count as f64 / of as f64
            } else {
                0.0
            },
            lower: i.map_or(0.0, |i| i.lower),
            upper: i.map_or(1.0, |i| i.upper),
        }
    }

    fn text(&self) -> String {
        format!(
            "{:>3}/{:<3} {:5.1} % [{:.1}, {:.1}]",
            self.count,
            self.of,
            self.share * 100.0,
            self.lower * 100.0,
            self.upper * 100.0
        )
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ScenarioRates {
    pub scenario: Scenario,
    pub description: &'static str,
    /// Replicates whose run finished (failed ones are counted apart).
    pub finished: usize,
    pub failed: usize,
    /// `confirmed`, `refuted`, `inconclusive`, in that order.
    pub rates: Vec<(String, Rate)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HypothesisRates {
    pub name: String,
    pub statement: String,
    pub scenarios: Vec<ScenarioRates>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Simulation {
    pub study: String,
    pub fingerprint: String,
    pub replicates_per_scenario: u32,
    pub reduced: Reduced,
    pub hypotheses: Vec<HypothesisRates>,
    pub replicates: Vec<Replicate>,
}

/// Counts the replicates' outcomes per hypothesis and scenario.
pub fn summarise(
    study: &crate::study::Study,
    fingerprint: String,
    per_scenario: u32,
    reduced: Reduced,
    replicates: Vec<Replicate>,
) -> Simulation {
    let mut scenarios: Vec<Scenario> = Vec::new();
    for r in &replicates {
        if !scenarios.contains(&r.scenario) {
            scenarios.push(r.scenario);
        }
    }
    let hypotheses = study
        .hypotheses
        .iter()
        .map(|(name, h)| HypothesisRates {
            name: name.clone(),
            statement: h.statement.clone(),
            scenarios: scenarios
                .iter()
                .map(|s| {
                    let runs: Vec<&Replicate> =
                        replicates.iter().filter(|r| r.scenario == *s).collect();
                    let finished: Vec<&&Replicate> =
                        runs.iter().filter(|r| r.failed.is_none()).collect();
                    let rates = OUTCOMES
                        .iter()
                        .map(|o| {
                            let count = finished
                                .iter()
                                .filter(|r| r.outcomes.iter().any(|(h, out)| h == name && out == o))
                                .count();
                            (o.to_string(), Rate::new(count, finished.len()))
                        })
                        .collect();
                    ScenarioRates {
                        scenario: *s,
                        description: s.describe(),
                        finished: finished.len(),
                        failed: runs.len() - finished.len(),
                        rates,
                    }
                })
                .collect(),
        })
        .collect();
    Simulation {
        study: study.name.clone(),
        fingerprint,
        replicates_per_scenario: per_scenario,
        reduced,
        hypotheses,
        replicates,
    }
}

/// The terminal's table.
pub fn render(sim: &Simulation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Synthetic twin of `{}`: {} seed(s) per scenario{}; shares with 95 % Wilson intervals.",
        sim.study,
        sim.replicates_per_scenario,
        reductions(&sim.reduced)
    );
    for h in &sim.hypotheses {
        let _ = writeln!(out, "\nhypothesis {} — {}", h.name, h.statement);
        for s in &h.scenarios {
            let _ = writeln!(out, "  {} ({})", s.scenario.name(), s.description);
            for (outcome, rate) in &s.rates {
                let _ = writeln!(out, "    {outcome:<13} {}", rate.text());
            }
            if s.failed > 0 {
                let _ = writeln!(out, "    {} run(s) failed and are not counted", s.failed);
            }
        }
    }
    out
}

fn reductions(r: &Reduced) -> String {
    let mut parts = Vec::new();
    if let Some(size) = r.size {
        parts.push(format!("images {size} px"));
    }
    if let Some(epochs) = r.epochs {
        parts.push(format!("{epochs} epoch(s)"));
    }
    if parts.is_empty() {
        " at the study's image size and epochs".into()
    } else {
        format!(" at reduced settings ({})", parts.join(", "))
    }
}

/// `power.html`: the table and one figure per hypothesis (each outcome's share per scenario with its
/// interval).
pub fn html(sim: &Simulation) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut body = String::new();
    for h in &sim.hypotheses {
        let _ = write!(
            body,
            "<h2>{}</h2><p>{}</p>{}<p>{}</p><table><tr><th>scenario</th>",
            escape(&h.name),
            escape(&h.statement),
            figure(h),
            LEGEND
        );
        for o in OUTCOMES {
            let _ = write!(body, "<th>{o}</th>");
        }
        body.push_str("</tr>");
        for s in &h.scenarios {
            let _ = write!(
                body,
                "<tr><td>{} <small>({})</small></td>",
                s.scenario.name(),
                escape(s.description)
            );
            for (_, r) in &s.rates {
                let _ = write!(body, "<td>{}</td>", escape(r.text().trim()));
            }
            body.push_str("</tr>");
        }
        body.push_str("</table>");
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Power of {study}</title>\
         <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}</style></head><body>\
         <h1>Power of {study} on its synthetic twin</h1><p>{n} seed(s) per scenario{red}. Each share is the \
         fraction of finished runs with that verdict, with its 95 % Wilson interval: under the shortcut \
         scenario <em>confirmed</em> is the detection rate, under the null scenario the false-alarm rate.</p>\
         {body}</body></html>\n",
        study = escape(&sim.study),
        n = sim.replicates_per_scenario,
        red = escape(&reductions(&sim.reduced)),
    )
}

/// The figure's colours, in the order of `OUTCOMES`.
const COLOURS: [(u8, u8, u8); 3] = [(60, 110, 170), (200, 120, 50), (150, 150, 150)];
const LEGEND: &str = "<span style=\"color:rgb(60,110,170)\">■</span> confirmed \
    <span style=\"color:rgb(200,120,50)\">■</span> refuted \
    <span style=\"color:rgb(150,150,150)\">■</span> inconclusive; whiskers: 95 % Wilson intervals";

/// Grouped bars: per scenario, the share of each outcome with its interval as a whisker.
fn figure(h: &HypothesisRates) -> String {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 260)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let groups = h.scenarios.len().max(1) as f64;
        let chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.0..groups, 0.0..1.0);
        let Ok(mut chart) = chart else {
            return String::new();
        };
        let names: Vec<&str> = h.scenarios.iter().map(|s| s.scenario.name()).collect();
        let _ = chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(names.len().max(1) * 2 + 1)
            .x_label_formatter(&|x| {
                let k = x.floor() as usize;
                if (x - k as f64 - 0.5).abs() < 0.01 {
                    names.get(k).copied().unwrap_or("").to_string()
                } else {
                    String::new()
                }
            })
            .y_desc("share of runs")
            .draw();
        let colours = COLOURS.map(|(r, g, b)| RGBColor(r, g, b));
        for (k, s) in h.scenarios.iter().enumerate() {
            for (j, (_, r)) in s.rates.iter().enumerate() {
                let x0 = k as f64 + 0.15 + j as f64 * 0.24;
                let x1 = x0 + 0.2;
                let _ = chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x1, r.share)],
                    colours[j % 3].filled(),
                )));
                let mid = (x0 + x1) / 2.0;
                let _ = chart.draw_series(std::iter::once(PathElement::new(
                    vec![(mid, r.lower), (mid, r.upper)],
                    BLACK.stroke_width(1),
                )));
            }
        }
        let _ = root.present();
    }
    svg
}
