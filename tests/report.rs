//! The report of the quickstart, as a newcomer sees it: the verdict with its reason and numbers first,
//! the flags where they apply, the same tables and figures in report.md and report.html, and the page
//! opened in a real browser (headless Chromium) without errors and with every figure drawn.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// One run of the quickstart, shared by the tests of this file.
fn quickstart() -> &'static Path {
    static RUN: OnceLock<tempfile::TempDir> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/quickstart.study");
        let loaded = study::load(&path);
        let s = loaded.study.expect("the quickstart checks");
        let plan = study::plan::plan(&s);
        study::run(
            &plan,
            path.parent().expect("folder"),
            &study::exec::Options::new(dir.path()),
        )
        .expect("the quickstart runs");
        dir
    })
    .path()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(quickstart().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Text without HTML tags, entities decoded, Markdown marks dropped and spaces collapsed.
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .replace(['`', '*'], "");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `Table n. caption` and `Figure n. caption` in order, from Markdown or HTML.
fn numbered(text: &str, html: bool) -> Vec<String> {
    let pattern = if html {
        regex::Regex::new(
            r"<(?:caption|figcaption)>((?:Table|Figure) \d+\..*?)</(?:caption|figcaption)>",
        )
    } else {
        regex::Regex::new(r"(?m)^\*((?:Table|Figure) \d+\..*)\*$")
    }
    .expect("pattern");
    pattern.captures_iter(text).map(|c| plain(&c[1])).collect()
}

#[test]
fn report_md_and_report_html_show_the_same_tables_and_figures() {
    let (md, html) = (read("report.md"), read("report.html"));
    let (in_md, in_html) = (numbered(&md, false), numbered(&html, true));
    assert_eq!(
        in_md, in_html,
        "the same numbered tables and figures, in order"
    );
    let figures = in_md.iter().filter(|c| c.starts_with("Figure")).count();
    let tables = in_md.iter().filter(|c| c.starts_with("Table")).count();
    assert!(figures >= 8 && tables >= 5, "{in_md:#?}");
    // Every table is a table in both; every figure is an SVG inline in the HTML and a file the
    // Markdown links.
    assert_eq!(md.matches("\n|---|").count(), tables);
    assert_eq!(html.matches("<table>").count(), tables);
    assert_eq!(html.matches("<figure").count(), figures);
    assert_eq!(
        html.matches("<figure").count(),
        html.matches("<svg").count()
    );
    let links = regex::Regex::new(r"!\[Figure \d+\]\((figures/[^)]+\.svg)\)").expect("pattern");
    let linked: Vec<&str> = links
        .captures_iter(&md)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(linked.len(), figures);
    for path in linked {
        let svg = read(path);
        assert!(
            svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{path}"
        );
    }
    // The verdict's reason sentence is in both.
    let reason = md
        .lines()
        .find(|l| l.starts_with("**Confirmed:"))
        .expect("a reason sentence");
    assert!(plain(&html).contains(&plain(reason)), "{reason}");
}

#[test]
fn the_first_screen_answers_the_question_with_a_reason_and_the_numbers() {
    let md = read("report.md");
    let first = &md[..md.find("## Results").expect("results after the verdicts")];
    assert!(first.contains("### source_shortcut — CONFIRMED"), "{first}");
    assert!(first.contains("*the classifier relies on the data source, not the lungs*"));
    // The reason names what was measured, with the interval, and the bound the rule compared.
    let reason = first
        .lines()
        .find(|l| l.starts_with("**Confirmed:"))
        .expect("reason");
    assert!(
        reason.contains("the source is predicted from the image with AUC"),
        "{reason}"
    );
    assert!(reason.contains("(lower bound above 0.9)"), "{reason}");
    assert!(
        regex::Regex::new(r"the model loses 0\.\d{3} AUC \[0\.\d{3}, 0\.\d{3}\] from seen sources")
            .unwrap()
            .is_match(reason),
        "{reason}"
    );
    // Each number the rules read, with what it rests on.
    assert!(first.contains("150 held-out images"), "{first}");
    assert!(
        first.contains("80 positive and 80 negative images"),
        "{first}"
    );
    // The legend says what each outcome means, without calling one good or bad.
    assert!(
        first.contains("**CONFIRMED**: the confirming rule holds"),
        "{first}"
    );
}

#[test]
fn the_quickstart_flags_its_shortcut_signature_its_threshold_and_its_perfect_scores() {
    let md = read("report.md");
    let first = &md[..md.find("## Results").expect("results")];
    // Within site A (the covid-heavy site) the AUC is near chance while the pooled AUC is high.
    assert!(
        regex::Regex::new(r"Shortcut signature\*\* in `main` \(crop = full\): AUC on seen is 0\.9\d\d pooled but 0\.[45]\d\d \[[^\]]+\] within site_a")
            .unwrap()
            .is_match(first),
        "{first}"
    );
    // The threshold chosen on validation calls every unseen image normal.
    assert!(
        first.contains("every image of unseen is called not covid (160 images, 2 model(s))"),
        "{first}"
    );
    // A perfect source prediction keeps a width set by its 150 held-out images (Newcombe's interval for
    // the AUC, Wilson's for the accuracy): nothing the probe reads has a zero-width interval.
    assert!(
        regex::Regex::new(r"predicted from the image with AUC 1\.000 \[0\.9[5-8]\d, 1\.000\]")
            .unwrap()
            .is_match(first),
        "{first}"
    );
    assert!(!first.contains("zero width"), "{first}");
    assert!(first.contains("`main.auc(seen, site_a)` (crop = full) rests on"));
    // A partition of one source has no worst source; the seen partition's is a real minimum.
    let worst = &md[md
        .find("Worst source per partition")
        .expect("worst sources")..];
    let worst = &worst[..worst.find("\n\n!").unwrap_or(worst.len())];
    assert!(!worst.contains("unseen"), "{worst}");
    assert!(worst.contains("- auc on seen: `site_a`"), "{worst}");
}

#[test]
fn the_quickstart_report_md_is_stable() {
    let md = read("report.md");
    // Wall times differ between runs.
    let md = regex::Regex::new(r"\| \d+\.\d\d \|")
        .unwrap()
        .replace_all(&md, "| [seconds] |");
    let md = regex::Regex::new(r"compute time over all cells: [\d.]+ s")
        .unwrap()
        .replace_all(&md, "compute time over all cells: [seconds]");
    // Estimates may move in their last digits where the matrix kernels take another instruction set; the
    // snapshot keeps the wording, layout, counts, ids and figures, and the tests above check the values.
    let md = regex::Regex::new(r"\b\d\.\d{3}\b")
        .unwrap()
        .replace_all(&md, "#.###");
    insta::assert_snapshot!("quickstart_report_md", md);
}

/// Headless Chromium, or why the browser test cannot run. `STUDY_REQUIRE_BROWSER` (set by .ci/run)
/// turns a missing browser into a failure.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let ok = Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success());
            ok.then(|| PathBuf::from(name))
        });
    if found.is_none() {
        assert!(
            std::env::var_os("STUDY_REQUIRE_BROWSER").is_none(),
            "STUDY_REQUIRE_BROWSER is set but no chromium is installed"
        );
        eprintln!("skipped: no chromium on PATH (Debian: apt-get install chromium)");
    }
    found
}

fn headless(browser: &Path, args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().expect("profile dir");
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("chromium runs")
}

#[test]
fn report_html_opens_in_chromium_without_errors_and_draws_every_figure() {
    let Some(browser) = chromium() else { return };
    let report = quickstart().join("report.html");
    let work = tempfile::tempdir().expect("temp dir");
    // A page that loads the report in a frame and writes what it finds into its own DOM, which
    // `--dump-dom` prints once loading has ended.
    let probe = work.path().join("probe.html");
    std::fs::write(
        &probe,
        format!(
            r#"<!DOCTYPE html><html><body><iframe id="r" src="file://{}" width="1200" height="3000"></iframe>
<pre id="out">not run</pre><script>
window.addEventListener('load', () => {{
  const d = document.getElementById('r').contentDocument;
  const size = e => {{ const b = e.getBoundingClientRect(); return [Math.round(b.width), Math.round(b.height)]; }};
  document.getElementById('out').textContent = JSON.stringify({{
    title: d.title,
    svgs: [...d.querySelectorAll('svg')].map(size),
    images: [...d.querySelectorAll('svg image')].map(i => i.getBBox().width),
    verdict: (d.querySelector('.verdict .reason') || {{}}).textContent || null,
  }});
}});
</script></body></html>"#,
            report.display()
        ),
    )
    .expect("writes the probe page");
    let out = headless(
        &browser,
        &[
            "--allow-file-access-from-files",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
            &format!("file://{}", probe.display()),
        ],
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let found = regex::Regex::new(r#"(?s)<pre id="out">(.*?)</pre>"#)
        .unwrap()
        .captures(&dom)
        .map(|c| c[1].replace("&quot;", "\""))
        .unwrap_or_else(|| panic!("no result in the page:\n{dom}\n{stderr}"));
    let found: serde_json::Value =
        serde_json::from_str(&found).unwrap_or_else(|e| panic!("{e}: {found}"));
    assert_eq!(found["title"], "quickstart", "{found}");
    let svgs = found["svgs"].as_array().expect("svgs");
    let figures = read("report.md").matches("![Figure").count();
    assert_eq!(svgs.len(), figures, "{found}");
    for s in svgs {
        assert!(
            s[0].as_f64() > Some(50.0) && s[1].as_f64() > Some(50.0),
            "an SVG of no size: {found}"
        );
    }
    assert!(
        found["verdict"]
            .as_str()
            .is_some_and(|v| v.starts_with("Confirmed:")),
        "{found}"
    );
    // The report has no scripts: any console message from it is an error (a resource that failed, a
    // malformed document).
    let from_report: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") && l.contains("report.html"))
        .collect();
    assert!(from_report.is_empty(), "console messages: {from_report:#?}");
    // A screenshot of the first screen, kept beside the test's files for a person to look at.
    let shot = work.path().join("report.png");
    let out = headless(
        &browser,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,1600",
            &format!("file://{}", report.display()),
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let img = image::load_from_memory(&png).expect("a PNG");
    assert_eq!((img.width(), img.height()), (1200, 1600));
    // The page is not blank: the screenshot has dark text pixels and light background.
    let gray = img.to_luma8();
    let dark = gray.pixels().filter(|p| p.0[0] < 80).count();
    assert!(dark > 2_000, "{dark} dark pixels");
    if let Some(keep) = std::env::var_os("STUDY_SCREENSHOT") {
        std::fs::copy(&shot, keep).expect("copies the screenshot");
    }
}

#[test]
fn study_plan_marks_each_cell_done_or_to_run_in_an_output_folder() {
    let out = quickstart();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/quickstart.study");
    let text = std::fs::read_to_string(&path).expect("reads the quickstart");
    let status = |text: &str| {
        let loaded = study::load_bytes("quickstart.study", text.as_bytes(), path.parent());
        let s = loaded.study.expect("checks");
        let bound = study::bound_plan(&path, &s, Some(out)).plan;
        let done = study::cells_done(&bound, out);
        study::plan::status(&bound, out, &done)
    };
    let all = status(&text);
    assert!(all.contains(": 20 of 20 cells done, 0 to run"), "{all}");
    assert!(
        all.contains("  done    train/cnn/full/seen_unseen/small/quick/rep1\n"),
        "{all}"
    );
    // A stricter rule changes only the verdict and the report.
    let edited = text.replace("gap.lower > 0.1", "gap.lower > 0.15");
    let some = status(&edited);
    assert!(some.contains(": 18 of 20 cells done, 2 to run"), "{some}");
    let to_run: Vec<&str> = some.lines().filter(|l| l.contains("to run  ")).collect();
    assert_eq!(
        to_run,
        ["  to run  verdict/source_shortcut", "  to run  report"],
        "{some}"
    );
}

#[test]
fn the_report_shows_the_data_and_what_the_models_saw_per_source_and_label_under_each_crop() {
    let doc: study::report::Document =
        serde_json::from_str(&read("results.json")).expect("results.json");
    let crops: Vec<&str> = doc.examples.iter().map(|e| e.crop.as_str()).collect();
    assert_eq!(crops, ["full", "lungs_out"]);
    for set in &doc.examples {
        // Three sources × two labels, four images each.
        assert_eq!(set.images.len(), 24, "{}", set.crop);
        let groups: std::collections::BTreeSet<(&str, &str)> = set
            .images
            .iter()
            .map(|i| (i.source.as_str(), i.label.as_str()))
            .collect();
        assert_eq!(groups.len(), 6);
    }
    // The same images, the lungs blacked out in the second set: darker on average.
    let mean = |png: &str| {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png)
            .expect("base64");
        let img = image::load_from_memory(&bytes).expect("png").to_luma8();
        img.pixels().map(|p| p.0[0] as f64).sum::<f64>() / (img.width() * img.height()) as f64
    };
    let (full, out) = (&doc.examples[0].images[0], &doc.examples[1].images[0]);
    assert!(mean(&out.png) < mean(&full.png) - 5.0);
    let md = read("report.md");
    assert!(md.contains("What the models of `main` saw under crop `lungs_out`"));
    // The split's composition: every image in one partition, the planted confound visible in training.
    let c = &doc.composition[0];
    assert_eq!(c.sources, ["site_a", "site_b", "site_c"]);
    let total: u64 = c.rows.iter().flat_map(|r| &r.counts).sum();
    assert_eq!(total, 660);
    let train_covid = c
        .rows
        .iter()
        .find(|r| r.partition == "train" && r.label == "covid")
        .expect("train · covid");
    assert!(
        train_covid.counts[0] > 5 * train_covid.counts[1],
        "{train_covid:?}"
    );
    assert!(md.contains("Split `seen_unseen`: images per partition × label"));
}
