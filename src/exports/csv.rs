//! CSV writing per RFC 4180, safe to open in a spreadsheet.
//!
//! A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
//! would be run as a formula by spreadsheet programs, so such cells get a
//! leading apostrophe (formula injection, CWE-1236). Every cell is quoted
//! when it holds a comma, a quote or a line break, with quotes doubled.

/// Neutralises a cell a spreadsheet would read as a formula.
pub fn defuse(cell: &str) -> String {
    // Spreadsheets skip leading spaces and line breaks before a formula.
    let first_visible = cell
        .trim_start_matches([' ', '\n', '\u{a0}'])
        .chars()
        .next();
    match (cell.chars().next(), first_visible) {
        (Some('\t' | '\r'), _) | (_, Some('=' | '+' | '-' | '@')) => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

/// One field, quoted when it must be.
pub fn field(cell: &str) -> String {
    let cell = defuse(cell);
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

/// Rows joined with CRLF line ends, as RFC 4180 asks.
pub fn document<R, C>(rows: R) -> String
where
    R: IntoIterator<Item = C>,
    C: IntoIterator,
    C::Item: AsRef<str>,
{
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.into_iter().map(|c| field(c.as_ref())).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused() {
        for bad in ["=1+1", "+44 123", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(
                field(bad).trim_start_matches('"').starts_with('\''),
                "{bad:?}"
            );
        }
        assert_eq!(field(" =HYPERLINK(1)"), "' =HYPERLINK(1)");
        assert!(field("\n=1+1").starts_with("\"'"));
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("7"), "7");
    }

    #[test]
    fn quoting_follows_rfc_4180() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(
            document([["h1", "h2"], ["=x", "y,z"]]),
            "h1,h2\r\n'=x,\"y,z\"\r\n"
        );
    }
}
