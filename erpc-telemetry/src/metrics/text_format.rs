//! OpenMetrics text → Prometheus text format 0.0.4.
//!
//! prometheus-client writes OpenMetrics only. The two formats differ, for what erpc exports,
//! in three ways: a counter's `# HELP`/`# TYPE` name its family (`x`) while its samples are
//! `x_total` — 0.0.4 parsers (promtool, older scrapers) need the sample name there; 0.0.4 has
//! no `# UNIT` line; and no `# EOF` terminator. Everything else (sample lines, histograms'
//! `_bucket`/`_sum`/`_count`, label escaping) is the same.

/// The 0.0.4 form of an OpenMetrics exposition.
pub(crate) fn from_openmetrics(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut counters: Vec<&str> = Vec::new();
    // Families whose TYPE is counter (TYPE comes after HELP: look ahead once).
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.push(name);
            }
        }
    }
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| Some((prefix, line.strip_prefix(prefix)?)));
        if let Some((prefix, rest)) = meta {
            let name = rest.split(' ').next().unwrap_or_default();
            if counters.contains(&name) {
                out.push_str(prefix);
                out.push_str(name);
                out.push_str("_total");
                out.push_str(&rest[name.len()..]);
                out.push('\n');
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::from_openmetrics;

    #[test]
    fn counters_are_named_by_their_samples_and_openmetrics_only_lines_go() {
        let om = "# HELP a_calls Calls.\n# TYPE a_calls counter\na_calls_total{x=\"1\"} 3\n\
                  # HELP a_open Open.\n# TYPE a_open gauge\na_open 2\n\
                  # HELP a_took_seconds Took.\n# TYPE a_took_seconds histogram\n# UNIT a_took_seconds seconds\n\
                  a_took_seconds_sum 1.0\na_took_seconds_count 1\na_took_seconds_bucket{le=\"+Inf\"} 1\n# EOF\n";
        assert_eq!(
            from_openmetrics(om),
            "# HELP a_calls_total Calls.\n# TYPE a_calls_total counter\na_calls_total{x=\"1\"} 3\n\
             # HELP a_open Open.\n# TYPE a_open gauge\na_open 2\n\
             # HELP a_took_seconds Took.\n# TYPE a_took_seconds histogram\n\
             a_took_seconds_sum 1.0\na_took_seconds_count 1\na_took_seconds_bucket{le=\"+Inf\"} 1\n"
        );
    }
}
