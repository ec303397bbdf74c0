//! Plain-text tables.

use edgenas_report::table;

fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
    r.iter().map(|row| row.iter().map(|c| c.to_string()).collect()).collect()
}

#[test]
fn columns_align_and_numbers_go_right() {
    let out = table(
        &["model", "latency ms", "acc"],
        &rows(&[&["mbv2", "12.5", "71.9%"], &["candidate-17", "3", "68.25%"], &["tiny", "1234.75", "n/a"]]),
    );
    let expected = "\
model         latency ms  acc
------------  ----------  ------
mbv2                12.5   71.9%
candidate-17           3  68.25%
tiny             1234.75  n/a
";
    assert_eq!(out, expected, "\n{out}");
}

#[test]
fn numeric_column_headers_are_right_aligned() {
    let out = table(&["name", "n"], &rows(&[&["a", "1000"], &["bb", "-2"], &["c", ""]]));
    assert_eq!(out, "name     n\n----  ----\na     1000\nbb      -2\nc\n", "\n{out}");
}

#[test]
fn ragged_rows_empty_tables_and_odd_cells() {
    assert_eq!(table(&[], &[]), "");
    assert_eq!(table(&["only"], &[]), "only\n----\n");
    // Extra cells get a blank header; missing cells are blank.
    let out = table(&["a"], &rows(&[&["x", "1"], &[]]));
    assert_eq!(out, "a\n-  -\nx  1\n\n", "\n{out}");
    // Line breaks and tabs inside a cell do not break the layout; widths count characters.
    let out = table(&["k", "v"], &rows(&[&["two\nlines", "µs"], &["tab\there", "1e-3"]]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[2], "two lines  µs");
    assert_eq!(lines[3], "tab here   1e-3");
}
