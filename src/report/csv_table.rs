//! `metrics.csv`: one row per experiment or probe × grid cell × result (partition, source or the
//! probe's argument) with the
//! mean over repeats, its interval and standard error.

use super::Document;

pub fn render(doc: &Document) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "target",
        "kind",
        "model",
        "crop",
        "split",
        "preprocess",
        "train",
        "field",
        "partition",
        "source",
        "argument",
        "value",
        "lower",
        "upper",
        "se",
        "units",
        "undefined",
        "caution",
    ]);
    let f = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v}"));
    for r in &doc.results {
        // Experiments read `metric(partition, source)`; probes take their own argument (a crop, a size, a source).
        let experiment = r.kind == "experiment";
        for e in &r.entries {
            let p = e.point.as_ref();
            let axis = |a: &str| p.and_then(|p| p.axis(a)).unwrap_or("").to_string();
            let est = &e.estimate;
            let _ = w.write_record([
                r.target.clone(),
                r.kind.clone(),
                axis("model"),
                axis("crop"),
                axis("split"),
                axis("preprocess"),
                axis("train"),
                e.field.clone(),
                if experiment {
                    e.args.first().cloned().unwrap_or_default()
                } else {
                    String::new()
                },
                if experiment {
                    e.args.get(1).cloned().unwrap_or_default()
                } else {
                    String::new()
                },
                if experiment {
                    String::new()
                } else {
                    e.args.join(",")
                },
                f(est.value),
                f(est.lower),
                f(est.upper),
                f(est.se),
                est.units.len().to_string(),
                est.undefined.clone().unwrap_or_default(),
                est.caution.clone().unwrap_or_default(),
            ]);
        }
    }
    w.into_inner()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
