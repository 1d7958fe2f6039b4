//! What `study run` prints at its end for each verdict: the outcome, the statement, and the rule that
//! decided it with the numbers it read.

use study::probe::verdict::{CheckedRule, Decision, Term, Verdict};

fn term(text: &str, value: Option<f64>, undefined: Option<&str>) -> Term {
    Term {
        text: text.into(),
        value,
        undefined: undefined.map(String::from),
        source: None,
        compared: None,
    }
}

fn verdict(outcome: Decision, confirmed: Option<bool>, refuted: Option<bool>) -> Verdict {
    Verdict {
        hypothesis: "source_shortcut".into(),
        statement: "the classifier relies on the data source, not the lungs".into(),
        outcome,
        reason: "neither rule holds".into(),
        confirmed: Some(CheckedRule {
            text: "source_probe.auc.lower > 0.9 and generalisation.gap.lower > 0.1".into(),
            holds: confirmed,
            terms: vec![
                term("source_probe.auc.lower", Some(0.9987), None),
                term("generalisation.gap.lower", Some(0.2218), None),
            ],
        }),
        refuted: Some(CheckedRule {
            text: "main.auc(unseen).lower > 0.8".into(),
            holds: refuted,
            terms: vec![term(
                "main.auc(unseen).lower",
                None,
                Some("unseen holds one class"),
            )],
        }),
    }
}

fn lines(v: &Verdict) -> String {
    study::report::verdict_lines(v).join("\n")
}

#[test]
fn a_decided_verdict_shows_the_rule_that_decided_it_with_its_numbers() {
    insta::assert_snapshot!(
        "confirmed",
        lines(&verdict(Decision::Confirmed, Some(true), None))
    );
}

#[test]
fn an_inconclusive_verdict_shows_both_rules_and_why() {
    insta::assert_snapshot!(
        "inconclusive",
        lines(&verdict(Decision::Inconclusive, Some(false), None))
    );
}
