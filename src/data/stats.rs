//! Contingency tables: chi-square test of independence and Cramér's V.

use statrs::distribution::{ChiSquared, ContinuousCDF};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub struct Association {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    pub counts: Vec<Vec<usize>>,
    pub chi2: f64,
    pub dof: usize,
    /// `None` when the table has a single row or column (no test is possible).
    pub p: Option<f64>,
    pub cramers_v: Option<f64>,
}

/// Builds the table of two variables over pairs and tests their independence.
pub fn association<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Association {
    let mut cells: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (a, b) in pairs {
        *cells.entry((a, b)).or_default() += 1;
    }
    let mut rows: Vec<String> = cells.keys().map(|(a, _)| a.to_string()).collect();
    rows.dedup();
    let mut columns: Vec<String> = cells.keys().map(|(_, b)| b.to_string()).collect();
    columns.sort();
    columns.dedup();
    let counts: Vec<Vec<usize>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| cells.get(&(r.as_str(), c.as_str())).copied().unwrap_or(0))
                .collect()
        })
        .collect();
    let (chi2, dof, p, cramers_v) = chi_square(&counts);
    Association {
        rows,
        columns,
        counts,
        chi2,
        dof,
        p,
        cramers_v,
    }
}

/// Pearson's chi-square statistic, degrees of freedom, p-value and Cramér's V of a table.
pub fn chi_square(counts: &[Vec<usize>]) -> (f64, usize, Option<f64>, Option<f64>) {
    let r = counts.len();
    let c = counts.first().map_or(0, Vec::len);
    let n: usize = counts.iter().flatten().sum();
    if r < 2 || c < 2 || n == 0 {
        return (0.0, 0, None, None);
    }
    let row_sums: Vec<f64> = counts
        .iter()
        .map(|row| row.iter().sum::<usize>() as f64)
        .collect();
    let col_sums: Vec<f64> = (0..c)
        .map(|j| counts.iter().map(|row| row[j]).sum::<usize>() as f64)
        .collect();
    let mut chi2 = 0.0;
    for i in 0..r {
        for j in 0..c {
            let expected = row_sums[i] * col_sums[j] / n as f64;
            if expected > 0.0 {
                chi2 += (counts[i][j] as f64 - expected).powi(2) / expected;
            }
        }
    }
    let dof = (r - 1) * (c - 1);
    let p = ChiSquared::new(dof as f64).ok().map(|d| 1.0 - d.cdf(chi2));
    let v = (chi2 / (n as f64 * (r.min(c) - 1) as f64)).sqrt();
    (chi2, dof, p, Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_values() {
        // scipy.stats.chi2_contingency([[10, 20], [30, 40]], correction=False):
        // chi2 = 0.7936507936507936, dof = 1, p = erfc(sqrt(chi2 / 2)) = 0.37299848361348714
        let (chi2, dof, p, v) = chi_square(&[vec![10, 20], vec![30, 40]]);
        assert!((chi2 - 0.7936507936507936).abs() < 1e-12);
        assert_eq!(dof, 1);
        assert!((p.unwrap() - 0.37299848361348714).abs() < 1e-9);
        assert!((v.unwrap() - (0.7936507936507936f64 / 100.0).sqrt()).abs() < 1e-12);
        // A perfectly entangled table: V = 1.
        let (_, _, _, v) = chi_square(&[vec![50, 0], vec![0, 50]]);
        assert!((v.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(chi_square(&[vec![5, 5]]).2, None);
    }
}
