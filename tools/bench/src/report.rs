//! The summary: one row per number, its target and whether it meets it,
//! printed as a Markdown table so a run can be pasted into
//! docs/benchmarks.md as it is.

use std::fmt::Write as _;

/// How a number compares with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the target.
    Meets,
    /// Outside the target.
    Misses,
    /// No target: context for the other numbers.
    Info,
}

impl Verdict {
    /// `Meets` when `ok`, else `Misses`.
    pub fn from(ok: bool) -> Verdict {
        if ok { Verdict::Meets } else { Verdict::Misses }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Meets => "meets",
            Verdict::Misses => "misses",
            Verdict::Info => "",
        }
    }
}

/// One line of the summary.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub measure: String,
    /// The number, with its unit.
    pub value: String,
    /// The target, or empty.
    pub target: String,
    /// The comparison.
    pub verdict: Verdict,
}

/// Every row, in the order measured.
#[derive(Debug, Default)]
pub struct Report {
    rows: Vec<Row>,
}

impl Report {
    /// Adds a row without a target.
    pub fn info(&mut self, measure: impl Into<String>, value: impl Into<String>) {
        self.push(measure, value, "", Verdict::Info);
    }

    /// Adds a row with a target and its verdict.
    pub fn target(
        &mut self,
        measure: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        ok: bool,
    ) {
        self.push(measure, value, target, Verdict::from(ok));
    }

    fn push(
        &mut self,
        measure: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        verdict: Verdict,
    ) {
        self.rows.push(Row {
            measure: measure.into(),
            value: value.into(),
            target: target.into(),
            verdict,
        });
    }

    /// How many rows meet their target, and how many miss it.
    pub fn tally(&self) -> (usize, usize) {
        let count = |verdict| {
            self.rows
                .iter()
                .filter(|row| row.verdict == verdict)
                .count()
        };
        (count(Verdict::Meets), count(Verdict::Misses))
    }

    /// The Markdown table, columns padded to line up.
    pub fn table(&self) -> String {
        let header = ["measure", "value", "target", "verdict"];
        let cells: Vec<[&str; 4]> = self
            .rows
            .iter()
            .map(|row| {
                [
                    row.measure.as_str(),
                    row.value.as_str(),
                    row.target.as_str(),
                    row.verdict.label(),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut text = String::new();
        line(&mut text, &header, &widths);
        let rule = widths.map(|width| "-".repeat(width));
        line(&mut text, &rule.each_ref().map(String::as_str), &widths);
        for row in &cells {
            line(&mut text, row, &widths);
        }
        text
    }
}

fn line(text: &mut String, cells: &[&str; 4], widths: &[usize; 4]) {
    text.push('|');
    for (cell, width) in cells.iter().zip(widths) {
        let _ = write!(text, " {cell:<width$} |");
    }
    text.push('\n');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_table_lines_up_and_labels_each_verdict() {
        let mut report = Report::default();
        report.target("RSS", "12.0 MiB", "< 20 MiB", true);
        report.target("Allocate p99 ratio", "1.8x", "<= 1.5x", false);
        report.info("floor p99", "0.160 ms");
        let table = report.table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{table}");
        assert!(lines[2].contains("| meets "));
        assert!(lines[3].contains("| misses "));
        assert!(lines[1].starts_with("| ---"));
        assert_eq!(report.tally(), (1, 1));
    }
}
