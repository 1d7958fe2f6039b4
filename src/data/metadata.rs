//! Typed metadata: ages (also DICOM `062Y`), sexes, views, and evaluation of `keep` filters.

use crate::study::{CompareOp, Field, Filter, Literal};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
        }
    }
}

/// A cell is missing when it is empty or a conventional placeholder.
pub fn is_missing(raw: &str) -> bool {
    let t = raw.trim();
    t.is_empty()
        || ["na", "n/a", "nan", "none", "null", "unknown", "?", "-"]
            .iter()
            .any(|m| t.eq_ignore_ascii_case(m))
}

/// Age in years from `62`, `62.5`, or DICOM age strings `062Y`, `018M` (months), `010W`, `003D`.
/// `Ok(None)` for a missing value, `Err` for text that is not an age.
pub fn parse_age(raw: &str) -> Result<Option<f64>, AgeError> {
    let t = raw.trim();
    if is_missing(t) {
        return Ok(None);
    }
    if let Ok(years) = t.parse::<f64>() {
        return check_age(years, t).map(Some);
    }
    let (digits, unit) = t.split_at(t.len().saturating_sub(1));
    let per_year = match unit.to_ascii_uppercase().as_str() {
        "Y" => 1.0,
        "M" => 12.0,
        "W" => 52.1775,
        "D" => 365.25,
        _ => return Err(AgeError::NotAnAge(t.to_string())),
    };
    match digits.parse::<u32>() {
        Ok(n) => check_age(n as f64 / per_year, t).map(Some),
        Err(_) => Err(AgeError::NotAnAge(t.to_string())),
    }
}

/// Why a value is not an age.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AgeError {
    #[error("`{0}` is not an age (write years such as 62, or DICOM ages such as 062Y)")]
    NotAnAge(String),
    #[error("age `{0}` is outside 0 to 130 years")]
    OutOfRange(String),
}

fn check_age(years: f64, text: &str) -> Result<f64, AgeError> {
    if (0.0..=130.0).contains(&years) {
        Ok(years)
    } else {
        Err(AgeError::OutOfRange(text.to_string()))
    }
}

/// `M`, `male`, `F`, `female` (any case); `Ok(None)` for missing or other values such as `O` or `U`.
pub fn parse_sex(raw: &str) -> Option<Sex> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "m" | "male" | "man" => Some(Sex::Male),
        "f" | "female" | "woman" => Some(Sex::Female),
        _ => None,
    }
}

/// Normalised view names: `PA`, `AP`, `AP Supine`, `AP Erect`, `Lateral`; other text is kept trimmed.
pub fn normalize_view(raw: &str) -> Option<String> {
    let t = raw.trim();
    if is_missing(t) {
        return None;
    }
    let key: String = t
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    Some(
        match key.as_str() {
            "pa" | "posteroanterior" => "PA",
            "ap" | "anteroposterior" => "AP",
            "apsupine" | "supine" | "apsup" => "AP Supine",
            "aperect" | "erect" => "AP Erect",
            "l" | "ll" | "lat" | "lateral" | "rl" => "Lateral",
            _ => return Some(t.to_string()),
        }
        .to_string(),
    )
}

/// Values a filter can read from one row.
pub trait Row {
    /// The value of a field, or `None` when the row has it missing.
    fn field(&self, field: &Field) -> Option<String>;
}

/// Evaluates a `keep` filter. Comparisons with a missing value are false (`is missing` tests for it).
pub fn keep(filter: &Filter, row: &dyn Row) -> bool {
    match filter {
        Filter::And(parts) => parts.iter().all(|f| keep(f, row)),
        Filter::Or(parts) => parts.iter().any(|f| keep(f, row)),
        Filter::Not(inner) => !keep(inner, row),
        Filter::Missing { field, negated } => row.field(field).is_none() != *negated,
        Filter::In {
            field,
            values,
            negated,
        } => match row.field(field) {
            Some(v) => values.iter().any(|l| equals(&v, l)) != *negated,
            None => *negated,
        },
        Filter::Compare { field, op, value } => {
            let Some(v) = row.field(field) else {
                return false;
            };
            match op {
                CompareOp::Eq => equals(&v, value),
                CompareOp::Ne => !equals(&v, value),
                _ => {
                    let (Literal::Number(n), Some(x)) = (value, number(&v)) else {
                        return false;
                    };
                    match op {
                        CompareOp::Lt => x < *n,
                        CompareOp::Le => x <= *n,
                        CompareOp::Gt => x > *n,
                        _ => x >= *n,
                    }
                }
            }
        }
    }
}

fn number(v: &str) -> Option<f64> {
    parse_age(v)
        .ok()
        .flatten()
        .or_else(|| v.trim().parse().ok())
}

fn equals(v: &str, literal: &Literal) -> bool {
    match literal {
        Literal::Text(t) => v.trim() == t,
        Literal::Number(n) => number(v) == Some(*n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_years_and_dicom_strings() {
        assert_eq!(parse_age("62"), Ok(Some(62.0)));
        assert_eq!(parse_age(" 062Y "), Ok(Some(62.0)));
        assert_eq!(parse_age("018M"), Ok(Some(1.5)));
        assert_eq!(parse_age(""), Ok(None));
        assert_eq!(parse_age("NA"), Ok(None));
        assert!(parse_age("early 40s").is_err());
        assert!(parse_age("200").is_err());
    }

    #[test]
    fn sexes_and_views_normalise() {
        assert_eq!(parse_sex("female"), Some(Sex::Female));
        assert_eq!(parse_sex("M"), Some(Sex::Male));
        assert_eq!(parse_sex("O"), None);
        assert_eq!(normalize_view("ap supine").as_deref(), Some("AP Supine"));
        assert_eq!(normalize_view("P.A.").as_deref(), Some("PA"));
        assert_eq!(normalize_view("frontal").as_deref(), Some("frontal"));
        assert_eq!(normalize_view(""), None);
    }

    struct R(Vec<(&'static str, &'static str)>);
    impl Row for R {
        fn field(&self, field: &Field) -> Option<String> {
            let name = match field {
                Field::Role(n) | Field::Column(n) => n.as_str(),
            };
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
                .filter(|v| !is_missing(v))
        }
    }

    #[test]
    fn filters_treat_missing_values_as_not_matching() {
        let age_over = |n: f64| Filter::Compare {
            field: Field::Role("age".into()),
            op: CompareOp::Gt,
            value: Literal::Number(n),
        };
        let row = R(vec![("age", "062Y"), ("view", "PA")]);
        assert!(keep(&age_over(60.0), &row));
        assert!(!keep(&age_over(70.0), &row));
        let no_age = R(vec![("view", "PA")]);
        assert!(!keep(&age_over(10.0), &no_age));
        assert!(keep(&Filter::Not(Box::new(age_over(10.0))), &no_age));
        let missing = Filter::Missing {
            field: Field::Role("age".into()),
            negated: false,
        };
        assert!(keep(&missing, &no_age) && !keep(&missing, &row));
        let views = Filter::In {
            field: Field::Role("view".into()),
            values: vec![Literal::Text("PA".into())],
            negated: false,
        };
        assert!(keep(&views, &row));
    }
}
