//! `study fmt` keeps a file's own line endings, keeps long or commented lists one item per line with
//! their comments, and is a fixed point that does not change the meaning.

use study::source::FileId;
use study::syntax::format::format_text;

fn fmt(text: &str) -> String {
    format_text(FileId(0), text).unwrap_or_else(|d| panic!("does not parse: {}", d[0].message))
}

fn fingerprint(text: &str) -> String {
    let loaded = study::load_bytes("f.study", text.as_bytes(), None);
    study::plan::fingerprint(
        &loaded
            .study
            .unwrap_or_else(|| panic!("invalid: {:?}", loaded.diagnostics.codes())),
    )
}

const STUDY: &str = "// a study\nstudy \"x\" { seed 1 }\n\ndataset d = synthetic { size 32, source a { images 20, covid 50% }, source b { images 20 } }\n/* the crop */\ncrop full = full\npreprocess p { resize 32 }\nmodel m = cnn(channels: [8])\ntrain t { optimizer adam(lr: 1e-3), epochs 2 }\nsplit s = by_source { data d, seen [\"a\"], unseen [\"b\"] }\nexperiment e { model m, crop full, split s, preprocess p, train t }\n";

#[test]
fn every_line_ending_style_is_kept_and_formatting_is_a_fixed_point() {
    let canonical = fmt(STUDY);
    for ending in ["\r\n", "\r"] {
        let text = STUDY.replace('\n', ending);
        let once = fmt(&text);
        assert_eq!(once, canonical.replace('\n', ending), "{ending:?}");
        assert_eq!(fmt(&once), once, "{ending:?}: not a fixed point");
        assert_eq!(
            fingerprint(&once),
            fingerprint(STUDY),
            "{ending:?}: meaning changed"
        );
        assert!(
            !once.replace(ending, "").contains(['\r', '\n']),
            "{ending:?}: mixed endings"
        );
    }
}

#[test]
fn positions_of_diagnostics_count_every_line_ending() {
    // The same mistake on line 9 whatever the line endings: the JSON position and the quote agree.
    let broken = STUDY.replace("epochs 2", "epochs 0");
    for ending in ["\n", "\r\n", "\r"] {
        let text = broken.replace('\n', ending);
        let loaded = study::load_bytes("f.study", text.as_bytes(), None);
        let d = &loaded.diagnostics.items[0];
        let span = d.primary_span().unwrap();
        assert_eq!(
            loaded.sources.get(span.file).line_col(span.start).0,
            9,
            "{ending:?}"
        );
        let rendered =
            study::diagnostics::render(d, &loaded.sources, study::diagnostics::Style::plain());
        assert!(rendered.contains("f.study:9:"), "{ending:?}: {rendered}");
    }
}

#[test]
fn long_or_commented_lists_stay_one_item_per_line_with_their_comments() {
    let text = "study \"x\" { seed 1 }\n\ndataset d = synthetic {\n  size 32\n  source hospital_alpha_north { images 20, covid 50% }\n  source hospital_beta_south { images 20, covid 50% }\n  source hospital_gamma_east { images 20, covid 50% }\n  source hospital_delta_west { images 20 }\n}\n\nsplit s = by_source {\n  data d\n  seen [\n    \"hospital_alpha_north\",  // the largest\n    \"hospital_beta_south\",\n  ]\n  unseen [\"hospital_gamma_east\", \"hospital_delta_west\", \"hospital_alpha_north_annex_building_two\", \"hospital_epsilon\"]\n}\n";
    let once = fmt(text);
    assert!(
        once.contains("  seen [\n    \"hospital_alpha_north\",  // the largest\n    \"hospital_beta_south\",\n  ]\n"),
        "the commented list keeps its layout and comment:\n{once}"
    );
    assert!(
        once.contains("  unseen [\n    \"hospital_gamma_east\",\n"),
        "a list too long for one line is one item per line:\n{once}"
    );
    assert!(once.lines().all(|l| l.len() <= 100), "{once}");
    assert_eq!(fmt(&once), once, "not a fixed point");
    // A short list written over lines fits on one.
    let short = fmt(
        "study \"x\" { seed 1 }\nsplit s = by_source {\n  data d\n  seen [\n    \"a\",\n    \"b\",\n  ]\n}\n",
    );
    assert!(short.contains("seen [\"a\", \"b\"]"), "{short}");
}
