//! Estimates combined over the units of an experiment (repeats × folds).
//!
//! Each unit (one trained model evaluated once) gives a value and, where one exists, its confidence
//! interval on the test images (DeLong, Newcombe, Wilson or bootstrap). Over `R` units the value is their
//! mean; each side of its interval is the mean ∓ z·√(v + s²/R), where `v` is the largest of the units'
//! sampling variances on that side (read off the distance from each unit's value to its bound on that side)
//! and `s²` the variance between units. The test-set uncertainty is taken as fully shared by the units,
//! since they are scored on the same images, so repeating a model on them never narrows a bound: no side
//! is tighter than the widest unit's, units that agree exactly keep one unit's interval, and an interval
//! that is asymmetric (a proportion at 0 or 1, an AUC near 1) keeps its long side. The training-run
//! uncertainty adds `s²/R`. With one unit the unit's own interval is kept exactly. `se` is the standard
//! error of the mean between units.

use serde::{Deserialize, Serialize};

/// One unit's value of a metric, with its interval when it has one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitValue {
    pub value: f64,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

impl UnitValue {
    pub fn plain(value: f64) -> Self {
        UnitValue {
            value,
            lower: None,
            upper: None,
        }
    }

    pub fn with_interval(value: f64, lower: f64, upper: f64) -> Self {
        UnitValue {
            value,
            lower: Some(lower),
            upper: Some(upper),
        }
    }
}

/// A number a rule can read: its value, interval and standard error, or why it is undefined.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: Option<f64>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// Standard error of the mean over units (`None` with a single unit).
    pub se: Option<f64>,
    /// The units' own values, in unit order.
    pub units: Vec<f64>,
    /// Why there is no value (a class missing, a failed cell).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub undefined: Option<String>,
    /// Why the value deserves care although it is defined (an AUC from few images of a class).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub caution: Option<String>,
}

impl Estimate {
    pub fn undefined(reason: impl Into<String>) -> Self {
        Estimate {
            value: None,
            lower: None,
            upper: None,
            se: None,
            units: Vec::new(),
            undefined: Some(reason.into()),
            caution: None,
        }
    }

    /// A value without uncertainty (a count, a statistic of the whole data).
    pub fn exact(value: f64) -> Self {
        combine::<std::convert::Infallible>(&[Ok(UnitValue::plain(value))], 0.95, None)
    }
}

/// `0.417 [0.193, 0.680]`: a defined estimate in a few characters (for notes).
pub fn brief(e: &Estimate) -> String {
    let num = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{v:.3}"));
    match (e.lower, e.upper) {
        (Some(_), Some(_)) => format!("{} [{}, {}]", num(e.value), num(e.lower), num(e.upper)),
        _ => num(e.value),
    }
}

/// Combines units at confidence `level`; `range` clips the interval (for example [0, 1] for an AUC).
/// Any undefined unit makes the estimate undefined, with that unit's reason.
pub fn combine<E: std::fmt::Display>(
    units: &[Result<UnitValue, E>],
    level: f64,
    range: Option<(f64, f64)>,
) -> Estimate {
    if units.is_empty() {
        return Estimate::undefined("no evaluations");
    }
    let mut values = Vec::with_capacity(units.len());
    for (k, u) in units.iter().enumerate() {
        match u {
            Ok(u) => values.push(u.clone()),
            Err(why) if units.len() == 1 => return Estimate::undefined(why.to_string()),
            Err(why) => {
                return Estimate::undefined(format!("unit {} of {}: {why}", k + 1, units.len()));
            }
        }
    }
    let r = values.len() as f64;
    let mean = values.iter().map(|u| u.value).sum::<f64>() / r;
    let between = if values.len() > 1 {
        values.iter().map(|u| (u.value - mean).powi(2)).sum::<f64>() / (r - 1.0)
    } else {
        0.0
    };
    let z = super::z_of(level);
    let clip = |x: f64| match range {
        Some((lo, hi)) => x.clamp(lo, hi),
        None => x,
    };
    let has_intervals = values
        .iter()
        .all(|u| u.lower.is_some() && u.upper.is_some());
    let (lower, upper) = if values.len() == 1 {
        (values[0].lower, values[0].upper)
    } else {
        // The widest unit's sampling variance on one side: `reach` is a unit's distance to that bound.
        let widest = |reach: fn(&UnitValue) -> f64| {
            if has_intervals {
                values
                    .iter()
                    .map(|u| (reach(u).max(0.0) / z).powi(2))
                    .fold(0.0, f64::max)
            } else {
                0.0
            }
        };
        let below = z * (widest(|u| u.value - u.lower.unwrap_or(u.value)) + between / r).sqrt();
        let above = z * (widest(|u| u.upper.unwrap_or(u.value) - u.value) + between / r).sqrt();
        (Some(clip(mean - below)), Some(clip(mean + above)))
    };
    Estimate {
        value: Some(mean),
        lower,
        upper,
        se: (values.len() > 1).then(|| (between / r).sqrt()),
        units: values.iter().map(|u| u.value).collect(),
        undefined: None,
        caution: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_unit_keeps_its_interval() {
        let e = combine::<String>(
            &[Ok(UnitValue::with_interval(0.8, 0.7, 0.9))],
            0.95,
            Some((0.0, 1.0)),
        );
        assert_eq!(
            (e.value, e.lower, e.upper, e.se),
            (Some(0.8), Some(0.7), Some(0.9), None)
        );
    }

    #[test]
    fn units_add_their_spread() {
        // Two units at 0.7 and 0.9, each ±0.1 (95 %): v̄ = (0.1/1.96)², s² = 0.02, Var = v̄ + 0.01.
        let e = combine::<String>(
            &[
                Ok(UnitValue::with_interval(0.7, 0.6, 0.8)),
                Ok(UnitValue::with_interval(0.9, 0.8, 1.0)),
            ],
            0.95,
            Some((0.0, 1.0)),
        );
        let z = 1.959963984540054;
        let half = z * ((0.1f64 / z).powi(2) + 0.01).sqrt();
        assert!((e.value.unwrap() - 0.8).abs() < 1e-12);
        assert!((e.lower.unwrap() - (0.8 - half)).abs() < 1e-9);
        assert!((e.upper.unwrap() - 1.0).abs() < 1e-12, "clipped at 1");
        assert!((e.se.unwrap() - 0.1).abs() < 1e-12);
    }

    /// Two repeats scored on the same images, each `successes` of `n` with its Wilson interval (95 %).
    fn two_repeats(successes: usize, n: usize) -> Estimate {
        let i = crate::eval::metrics::wilson_interval(successes, n, 0.95).expect("n > 0");
        let unit = UnitValue::with_interval(successes as f64 / n as f64, i.lower, i.upper);
        combine::<String>(&[Ok(unit.clone()), Ok(unit)], 0.95, Some((0.0, 1.0)))
    }

    #[test]
    fn repeats_on_the_same_images_keep_a_bound_at_zero_or_one() {
        // One model's Wilson interval (statsmodels 0.15 proportion_confint(k, n, method="wilson")):
        // 0/80 → [0, 0.04581812953552712]; 66/66 → [0.9449974429864586, 1]; 0/11 → [0, 0.2588329669680318].
        for (k, n, lower, upper) in [
            (0, 80, 0.0, 0.04581812953552712),
            (66, 66, 0.9449974429864586, 1.0),
            (0, 11, 0.0, 0.2588329669680318),
        ] {
            let e = two_repeats(k, n);
            assert!((e.lower.unwrap() - lower).abs() < 1e-9, "{k}/{n}: {e:?}");
            assert!((e.upper.unwrap() - upper).abs() < 1e-9, "{k}/{n}: {e:?}");
        }
    }

    #[test]
    fn no_side_is_tighter_than_the_widest_units() {
        let e = combine::<String>(
            &[
                Ok(UnitValue::with_interval(0.9, 0.70, 0.97)),
                Ok(UnitValue::with_interval(0.9, 0.80, 0.92)),
                Ok(UnitValue::with_interval(0.9, 0.85, 0.99)),
            ],
            0.95,
            Some((0.0, 1.0)),
        );
        assert!((e.lower.unwrap() - 0.70).abs() < 1e-12);
        assert!((e.upper.unwrap() - 0.99).abs() < 1e-12);
    }

    #[test]
    fn an_undefined_unit_makes_it_undefined() {
        let e = combine::<String>(
            &[Ok(UnitValue::plain(0.5)), Err("one class".into())],
            0.95,
            None,
        );
        assert_eq!(e.value, None);
        assert!(e.undefined.unwrap().contains("unit 2 of 2: one class"));
    }
}
