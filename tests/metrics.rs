//! Metrics against an independent implementation: the expected values below were computed with
//! scikit-learn 1.x (`roc_auc_score`, `confusion_matrix`, `f1_score`, `balanced_accuracy_score`) and a
//! brute-force O(m·n) DeLong written from the definition in NumPy (the script is in the comment at the
//! end of this file), on the vectors given here.

use study::eval::metrics::*;

struct Case {
    name: &'static str,
    scores: &'static [f64],
    labels: &'static [u8],
    auc: f64,
    delong_variance: f64,
    ci95: (f64, f64),
    /// tp, fp, tn, fn at threshold 0.5 (score >= 0.5 is positive)
    confusion: (usize, usize, usize, usize),
    f1: f64,
    balanced_accuracy: f64,
    youden: f64,
}

const CASES: &[Case] = &[
    Case {
        name: "ties",
        scores: &[0.9, 0.8, 0.8, 0.6, 0.55, 0.3],
        labels: &[1, 1, 0, 1, 0, 0],
        auc: 0.8333333333333334,
        delong_variance: 0.037037037037037035,
        ci95: (0.4561380886412762, 1.0),
        confusion: (3, 2, 1, 0),
        f1: 0.75,
        balanced_accuracy: 0.6666666666666666,
        youden: 0.6,
    },
    Case {
        name: "heavy ties",
        scores: &[0.5, 0.5, 0.5, 0.5, 0.2, 0.2, 0.9, 0.9],
        labels: &[1, 0, 1, 0, 1, 0, 1, 0],
        auc: 0.5,
        delong_variance: 0.046875,
        ci95: (0.07565534972143573, 0.9243446502785643),
        confusion: (3, 3, 1, 1),
        f1: 0.6,
        balanced_accuracy: 0.5,
        youden: 0.9,
    },
    Case {
        name: "tiny",
        scores: &[0.3, 0.7],
        labels: &[0, 1],
        auc: 1.0,
        delong_variance: 0.0,
        ci95: (1.0, 1.0),
        confusion: (1, 0, 1, 0),
        f1: 1.0,
        balanced_accuracy: 1.0,
        youden: 0.7,
    },
    Case {
        name: "perfect separation",
        scores: &[0.1, 0.2, 0.3, 0.8, 0.9],
        labels: &[0, 0, 0, 1, 1],
        auc: 1.0,
        delong_variance: 0.0,
        ci95: (1.0, 1.0),
        confusion: (2, 0, 3, 0),
        f1: 1.0,
        balanced_accuracy: 1.0,
        youden: 0.8,
    },
    Case {
        name: "reversed",
        scores: &[0.9, 0.8, 0.1, 0.2],
        labels: &[0, 0, 1, 1],
        auc: 0.0,
        delong_variance: 0.0,
        ci95: (0.0, 0.0),
        confusion: (0, 2, 0, 2),
        f1: 0.0,
        balanced_accuracy: 0.0,
        youden: 0.1,
    },
    Case {
        name: "mixed",
        scores: &[
            0.12, 0.85, 0.33, 0.47, 0.91, 0.05, 0.66, 0.47, 0.78, 0.21, 0.59, 0.40,
        ],
        labels: &[0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1],
        auc: 0.9027777777777778,
        delong_variance: 0.007793209876543211,
        ci95: (0.7297538059652932, 1.0),
        confusion: (4, 1, 5, 2),
        f1: 0.7272727272727273,
        balanced_accuracy: 0.75,
        youden: 0.66,
    },
];

fn scores(c: &Case) -> Scores {
    let labels: Vec<bool> = c.labels.iter().map(|l| *l == 1).collect();
    Scores::new(c.scores, &labels)
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-12, "{what}: {a} vs {b}");
}

#[test]
fn auc_delong_and_intervals_match_the_reference() {
    for c in CASES {
        let s = scores(c);
        close(auc(&s).get().expect("defined"), c.auc, c.name);
        let d = delong(&s).expect("defined");
        close(d.auc, c.auc, c.name);
        close(d.variance, c.delong_variance, c.name);
        let (_, ci) = delong_interval(&s, 0.95).expect("defined");
        close(ci.lower, c.ci95.0, c.name);
        close(ci.upper, c.ci95.1, c.name);
    }
}

#[test]
fn threshold_metrics_match_the_reference() {
    for c in CASES {
        let s = scores(c);
        let m = confusion(&s, 0.5);
        assert_eq!((m.tp, m.fp, m.tn, m.fn_), c.confusion, "{}", c.name);
        close(m.f1().get().expect("defined"), c.f1, c.name);
        close(
            m.balanced_accuracy().get().expect("defined"),
            c.balanced_accuracy,
            c.name,
        );
        close(youden_threshold(&s).expect("defined"), c.youden, c.name);
    }
}

#[test]
fn paired_delong_matches_the_reference() {
    let a = [
        0.12, 0.85, 0.33, 0.47, 0.91, 0.05, 0.66, 0.47, 0.78, 0.21, 0.59, 0.40,
    ];
    let b = [
        0.30, 0.60, 0.35, 0.52, 0.70, 0.10, 0.40, 0.45, 0.90, 0.25, 0.62, 0.38,
    ];
    let y: Vec<bool> = [0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1]
        .iter()
        .map(|l| *l == 1)
        .collect();
    let t = delong_paired(&a, &b, &y).expect("defined");
    assert!((t.difference - 0.06944444444444431).abs() < 1e-12);
    assert!((t.se - 0.0828690771676461).abs() < 1e-12);
    assert!((t.z - 0.838001903942487).abs() < 1e-9);
    assert!((t.p - 0.40202963418972404).abs() < 1e-9);
    let same = delong_paired(&a, &a, &y).expect("defined");
    assert_eq!((same.difference, same.p), (0.0, 1.0));
}

#[test]
fn undefined_metrics_say_why() {
    let one_class = Scores::new(&[0.2, 0.9], &[true, true]);
    assert!(matches!(auc(&one_class), MetricValue::Undefined(w) if w.contains("one class")));
    assert!(delong(&one_class).is_err());
    assert!(bootstrap_interval(&one_class, 0.95, 200, 1, |s| auc(s).get()).is_err());
    let c = confusion(&one_class, 0.5);
    assert!(matches!(c.specificity(), MetricValue::Undefined(_)));
    assert!(matches!(c.balanced_accuracy(), MetricValue::Undefined(_)));
    assert_eq!(c.sensitivity(), MetricValue::Defined(0.5));
    assert!(matches!(auc(&Scores::new(&[], &[])), MetricValue::Undefined(w) if w == "no images"));
}

/// Binormal scores with a known AUC: positives ~ N(d, 1), negatives ~ N(0, 1), AUC = Φ(d / √2).
#[test]
fn bootstrap_and_delong_intervals_cover_the_true_auc() {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    use statrs::distribution::ContinuousCDF;
    let d = 1.0;
    let truth = statrs::distribution::Normal::standard().cdf(d / 2f64.sqrt());
    let (reps, n) = (300, 40);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2021);
    let (pos, neg) = (
        Normal::new(d, 1.0).expect("normal"),
        Normal::new(0.0, 1.0).expect("normal"),
    );
    let (mut boot, mut del) = (0, 0);
    for r in 0..reps {
        let s = Scores {
            positives: (0..n).map(|_| pos.sample(&mut rng)).collect(),
            negatives: (0..n).map(|_| neg.sample(&mut rng)).collect(),
        };
        let b = bootstrap_interval(&s, 0.95, 400, r, |x| auc(x).get()).expect("defined");
        boot += usize::from(b.lower <= truth && truth <= b.upper);
        let (_, ci) = delong_interval(&s, 0.95).expect("defined");
        del += usize::from(ci.lower <= truth && truth <= ci.upper);
    }
    // 95 % intervals: coverage within about three binomial standard errors (±3.8 %) of 0.95.
    let (boot, del) = (boot as f64 / reps as f64, del as f64 / reps as f64);
    assert!((0.90..=0.99).contains(&boot), "bootstrap coverage {boot}");
    assert!((0.90..=0.99).contains(&del), "DeLong coverage {del}");
}

#[test]
fn bootstrap_is_seeded_and_macro_auc_averages_classes() {
    let s = scores(&CASES[5]);
    let a = bootstrap_interval(&s, 0.95, 500, 7, |x| auc(x).get()).expect("defined");
    let b = bootstrap_interval(&s, 0.95, 500, 7, |x| auc(x).get()).expect("defined");
    assert_eq!(a, b);
    assert!(a.lower <= 0.9027777777777778 && 0.9027777777777778 <= a.upper);
    // Three classes; each class's column separates it perfectly: macro AUC 1.
    let scores = vec![
        vec![0.9, 0.05, 0.05],
        vec![0.1, 0.8, 0.1],
        vec![0.2, 0.1, 0.7],
        vec![0.7, 0.2, 0.1],
    ];
    assert_eq!(
        macro_auc(&scores, &[0, 1, 2, 0], 3),
        MetricValue::Defined(1.0)
    );
    assert!(matches!(
        macro_auc(&scores, &[0, 0, 0, 0], 3),
        MetricValue::Undefined(_)
    ));
    assert_eq!(
        mean_se(&[0.8, 0.9, 1.0])
            .map(|(m, se)| ((m * 1e9).round() / 1e9, (se * 1e9).round() / 1e9)),
        Some((0.9, 0.057735027))
    );
}

// The reference script (Python 3, NumPy, scikit-learn):
//
//   def psi(x, y): return 1.0 if x > y else (0.5 if x == y else 0.0)
//   def delong_brute(pos, neg):
//       v10 = np.array([np.mean([psi(x, y) for y in neg]) for x in pos])
//       v01 = np.array([np.mean([psi(x, y) for x in pos]) for y in neg])
//       var = (v10.var(ddof=1) if len(pos) > 1 else 0) / len(pos) + (v01.var(ddof=1) if len(neg) > 1 else 0) / len(neg)
//       return v10.mean(), var, v10, v01
//   auc == roc_auc_score(y, s); ci = auc ± NormalDist().inv_cdf(0.975) * sqrt(var), clipped to [0, 1]
//   tn, fp, fn, tp = confusion_matrix(y, s >= 0.5).ravel(); f1_score; balanced_accuracy_score
//   youden: max over unique thresholds (descending) of sens + spec - 1, first maximum kept
//   paired: cov = np.cov(A.v10, B.v10)[0,1]/m + np.cov(A.v01, B.v01)[0,1]/n; z = (A - B)/sqrt(vA + vB - 2 cov)

/// Reference intervals of proportions: (successes, n, level, Wilson lower, upper, Clopper–Pearson lower,
/// upper). Computed with mpmath 1.3 at 50 significant digits from the definitions statsmodels'
/// `proportion_confint` uses (`method="wilson"`; `method="beta"`, which is R's `binom.test`), then rounded
/// to the nearest double. They agree with the published values: Newcombe (1998), Statistics in Medicine 17:857–872,
/// Table II (81/263: Wilson 0.2553–0.3662, exact 0.2527–0.3676; 15/148: 0.0624–0.1605, 0.0578–0.1617;
/// 0/20: 0–0.1611, 0–0.1684; 1/29: 0.0061–0.1718, 0.0009–0.1776) and R's `binom.test(7, 20)`
/// (0.1539092–0.5921885).
const PROPORTIONS: [(usize, usize, f64, f64, f64, f64, f64); 8] = [
    (
        81,
        263,
        0.95,
        0.2552885198782742,
        0.36620957698280004,
        0.25273674558527115,
        0.36762192260135135,
    ),
    (
        15,
        148,
        0.95,
        0.06238639953073628,
        0.16048724172330803,
        0.05784401008344856,
        0.161650490349479,
    ),
    (
        0,
        20,
        0.95,
        0.0,
        0.16112515805281938,
        0.0,
        0.16843347098308534,
    ),
    (
        1,
        29,
        0.95,
        0.00611321429276266,
        0.17175521879320288,
        0.0008726468835799219,
        0.17764429548872293,
    ),
    (
        7,
        20,
        0.95,
        0.18119182410108206,
        0.5671457233147638,
        0.15390920478454115,
        0.5921885345328282,
    ),
    (
        20,
        20,
        0.95,
        0.8388748419471806,
        1.0,
        0.8315665290169146,
        1.0,
    ),
    (
        3,
        8,
        0.95,
        0.13684428582359737,
        0.6942576053973727,
        0.08523341413725354,
        0.7551367836334484,
    ),
    (
        7,
        20,
        0.90,
        0.202260040056761,
        0.5334873111515284,
        0.1773109175744491,
        0.5580345113154888,
    ),
];

#[test]
fn proportion_intervals_match_reference_values() {
    use study::eval::metrics::{clopper_pearson_interval, wilson_interval};
    for (x, n, level, wl, wu, cl, cu) in PROPORTIONS {
        let w = wilson_interval(x, n, level).expect("defined");
        let c = clopper_pearson_interval(x, n, level).expect("defined");
        for (what, got, want) in [
            ("Wilson lower", w.lower, wl),
            ("Wilson upper", w.upper, wu),
            ("exact lower", c.lower, cl),
            ("exact upper", c.upper, cu),
        ] {
            assert!(
                (got - want).abs() < 1e-9,
                "{x}/{n} at {level}: {what} {got} vs {want}"
            );
        }
    }
    assert!(wilson_interval(0, 0, 0.95).is_none());
    assert!(clopper_pearson_interval(3, 2, 0.95).is_none());
}

/// pROC's `power.roc.test(auc = 0.73, ncases = 41, ncontrols = 72)` gives power 0.9897 (Obuchowski's
/// variance, 0.98974654); its formula `Φ((√nd·δ − z·√v0) / √va)` with Hanley & McNeil's variances at 0.5
/// (null) and at 0.73 instead gives 0.98968366 (mpmath, 30 digits).
#[test]
fn hanley_mcneil_reproduces_proc_power_roc_test() {
    use statrs::distribution::{ContinuousCDF, Normal};
    use study::eval::mann_whitney::hanley_mcneil_variance;
    let (theta, m, n) = (0.73, 41.0, 72.0);
    let z = Normal::standard().inverse_cdf(0.975);
    let null = hanley_mcneil_variance(0.5, m, n).sqrt();
    let alternative = hanley_mcneil_variance(theta, m, n).sqrt();
    let power = Normal::standard().cdf((theta - 0.5 - z * null) / alternative);
    assert!((power - 0.989683658643096).abs() < 1e-9, "{power}");
    assert!((power - 0.9897).abs() < 1e-4, "{power}");
}
