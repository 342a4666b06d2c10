//! Summary statistics shared by the evaluation and benchmark reports.

/// Nearest-rank percentile of `values` (`p` in 0-100); 0 for no values.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank() {
        let v = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(super::percentile(&v, 50.0), 3.0);
        assert_eq!(super::percentile(&v, 95.0), 5.0);
        assert_eq!(super::percentile(&v, 0.0), 1.0);
        assert_eq!(super::percentile(&[], 50.0), 0.0);
    }
}
