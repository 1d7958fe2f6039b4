//! `study check` speed on a 5,000-line study (target: ≤ 50 ms on a 2-core machine).
//! Run with `cargo bench --bench check`. Prints the median of repeated parse + check runs, the plan, and the
//! time to render thousands of diagnostics of one file.

use std::time::{Duration, Instant};

/// A valid study of about `lines` lines: many sources, models, recipes, experiments, probes, hypotheses.
fn generate(lines: usize) -> String {
    let mut s = String::from(
        "// generated benchmark study\nstudy \"bench\" {\n  seed 1\n  repeats 3\n}\n\n",
    );
    s.push_str("dataset phantom = synthetic {\n  size 64\n");
    for i in 0..20 {
        s.push_str(&format!(
            "  source site_{i} {{ images 50, covid {}%, gamma 0.{}, age 20..80 }}\n",
            10 + i * 4,
            5 + i % 5
        ));
    }
    s.push_str("}\n\ncrop full = full\ncrop center = center(80%)\npreprocess p { channels 1, resize 64, normalize per_image }\n");
    s.push_str("split s = by_source {\n  data phantom\n  seen [\"site_0\", \"site_1\"]\n  unseen [\"site_2\", \"site_3\"]\n  fractions { train 70%, validation 10%, seen 20% }\n}\n\n");
    let mut i = 0;
    while s.lines().count() < lines {
        s.push_str(&format!(
            "// block {i}\nmodel m{i} = cnn(channels: [8, 16, {}], dropout: 0.1)\n\ntrain t{i} {{\n  optimizer sgd(lr: 1e-3, momentum: 0.9)\n  schedule step(every: 5, factor: 0.5)\n  epochs 10\n  batch 16\n  select on validation auc\n}}\n\nexperiment e{i} {{\n  grid {{ crop [full, center] }}\n  model m{i}\n  split s\n  preprocess p\n  train t{i}\n  measure [auc, accuracy]\n  per_source\n}}\n\nprobe g{i} = gap(e{i}) {{ at {{ crop full }} }}\n\nhypothesis h{i} \"model {i} generalises\" {{\n  confirmed when g{i}.gap.upper < 0.05 and e{i}[crop = center].auc(unseen).lower > 0.8\n  refuted when g{i}.gap.lower > 0.1\n}}\n\n",
            32 + i % 8
        ));
        i += 1;
    }
    s
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let text = generate(5000);
    let lines = text.lines().count();
    let loaded = study::load_bytes("bench.study", text.as_bytes(), None);
    assert!(
        loaded.study.is_some(),
        "generated study is invalid: {:?}",
        loaded.diagnostics.items.first()
    );
    let mut check = Vec::new();
    let mut plan = Vec::new();
    let mut parse = Vec::new();
    for _ in 0..21 {
        let start = Instant::now();
        std::hint::black_box(study::syntax::parse_bytes(
            "bench.study",
            text.as_bytes(),
            None,
            Default::default(),
        ));
        parse.push(start.elapsed());
        let start = Instant::now();
        let loaded = study::load_bytes("bench.study", text.as_bytes(), None);
        check.push(start.elapsed());
        let s = loaded.study.expect("valid");
        let start = Instant::now();
        let p = study::plan::plan(&s);
        plan.push(start.elapsed());
        std::hint::black_box(p);
    }
    println!(
        "study check, {lines} lines ({} KiB): median {:.1} ms (target <= 50 ms)",
        text.len() / 1024,
        median(check).as_secs_f64() * 1e3
    );
    println!(
        "  of which parsing: median {:.1} ms",
        median(parse).as_secs_f64() * 1e3
    );
    println!(
        "study plan,  {lines} lines: median {:.1} ms",
        median(plan).as_secs_f64() * 1e3
    );
    // Rendering many diagnostics of one large file: each quote is cut from the lines around its span.
    for errors in [5_000usize, 50_000] {
        let mut text = String::from("study \"many\" { seed 1 }\ncrop full = full\n");
        for i in 0..errors {
            text.push_str(&format!(
                "experiment e{i} {{ model nosuch{i}, crop full }}\n"
            ));
        }
        let loaded = study::load_bytes("many.study", text.as_bytes(), None);
        let start = Instant::now();
        let rendered = study::diagnostics::render_all(
            &loaded.diagnostics,
            &loaded.sources,
            study::diagnostics::Style::plain(),
        );
        println!(
            "rendering {} diagnostics of a {} KiB file: {:.0} ms",
            loaded.diagnostics.items.len(),
            text.len() / 1024,
            start.elapsed().as_secs_f64() * 1e3
        );
        std::hint::black_box(rendered);
    }
}
