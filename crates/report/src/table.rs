//! Plain-text tables for the CLI's summaries.

/// Format `rows` under `headers` as an aligned plain-text table.
///
/// Columns are separated by two spaces and padded to their widest cell (counted in characters);
/// a dashed line separates the header from the rows. A cell that parses as a number (optionally
/// with a trailing `%`, e.g. `12.5`, `-3`, `1e-4`, `87.2%`, `nan`, `inf`) is right-aligned, any
/// other cell left-aligned; a header is right-aligned when every non-empty cell of its column is
/// a number. Rows may be shorter or longer than `headers` (missing cells are blank, extra columns
/// get a blank header). Line breaks and tabs inside cells become spaces. Trailing spaces are
/// trimmed and every line ends with `\n`; no headers and no rows give an empty string.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).chain([headers.len()]).max().unwrap_or(0);
    if columns == 0 {
        return String::new();
    }
    let clean = |s: &str| s.replace(['\n', '\r', '\t'], " ");
    let header: Vec<String> = (0..columns).map(|c| clean(headers.get(c).copied().unwrap_or(""))).collect();
    let body: Vec<Vec<String>> =
        rows.iter().map(|r| (0..columns).map(|c| clean(r.get(c).map_or("", String::as_str))).collect()).collect();

    let width = |s: &str| s.chars().count();
    let widths: Vec<usize> =
        (0..columns).map(|c| body.iter().map(|r| width(&r[c])).chain([width(&header[c])]).max().unwrap_or(0)).collect();
    let numeric_column: Vec<bool> = (0..columns)
        .map(|c| {
            let mut cells = body.iter().map(|r| r[c].as_str()).filter(|s| !s.trim().is_empty()).peekable();
            cells.peek().is_some() && cells.all(is_number)
        })
        .collect();

    let mut out = String::new();
    let mut push_line = |cells: &mut dyn Iterator<Item = (usize, String, bool)>| {
        let mut line = String::new();
        for (c, cell, right) in cells {
            if c > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(widths[c].saturating_sub(width(&cell)));
            if right {
                line.push_str(&pad);
                line.push_str(&cell);
            } else {
                line.push_str(&cell);
                line.push_str(&pad);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push_line(&mut header.iter().enumerate().map(|(c, h)| (c, h.clone(), numeric_column[c])));
    push_line(&mut widths.iter().enumerate().map(|(c, &w)| (c, "-".repeat(w), false)));
    for row in &body {
        push_line(&mut row.iter().enumerate().map(|(c, cell)| (c, cell.clone(), is_number(cell))));
    }
    out
}

/// Whether a cell reads as a number: an `f64` literal with at least one digit, or NaN/infinity
/// spelled `nan`/`inf`, optionally signed and followed by `%`.
fn is_number(cell: &str) -> bool {
    let t = cell.trim();
    let t = t.strip_suffix('%').unwrap_or(t).trim_end();
    if t.parse::<f64>().is_err() {
        return false;
    }
    let unsigned = t.trim_start_matches(['+', '-']).to_ascii_lowercase();
    t.bytes().any(|b| b.is_ascii_digit()) || unsigned == "nan" || unsigned == "inf"
}

#[cfg(test)]
mod tests {
    use super::is_number;

    #[test]
    fn numbers() {
        for s in ["0", "-3", "+2.5", "1e-4", "87.2%", " 12 ", "nan", "-inf", "1"] {
            assert!(is_number(s), "{s}");
        }
        for s in ["", "abc", "e", "infinity", "1.2.3", "12 ms", "%", "-"] {
            assert!(!is_number(s), "{s}");
        }
    }
}
