//! Errors of the search-space crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading, validating or decoding spaces and architectures.
#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid TOML/JSON for the expected structure (unknown or missing field, wrong type).
    #[error("{path}: {message}")]
    Parse {
        /// The file concerned.
        path: PathBuf,
        /// What the parser said, including the field and position.
        message: String,
    },
    /// A value is not among the choices the space allows.
    #[error("{field} = {value} is not allowed; allowed: {allowed}")]
    InvalidChoice {
        /// Path of the field or gene, e.g. `stages[1].blocks[0].kernel`.
        field: String,
        /// The offending value.
        value: String,
        /// The allowed values, comma separated.
        allowed: String,
    },
    /// A value is structurally invalid (zero width, even kernel, shape collapses...).
    #[error("{field}: {message}")]
    Invalid {
        /// Path of the field.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A genome has the wrong number of genes.
    #[error("genome has {got} genes; this space needs {expected}")]
    GenomeLength {
        /// Genes expected by the space.
        expected: usize,
        /// Genes given.
        got: usize,
    },
    /// A weight source could not provide a tensor.
    #[error("weights for layer {layer}: {message}")]
    Weights {
        /// Layer name.
        layer: String,
        /// What is wrong.
        message: String,
    },
}

impl SpaceError {
    /// Attach a file path to a parse error.
    pub fn parse(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        SpaceError::Parse { path: path.into(), message: message.to_string() }
    }

    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpaceError::Invalid { field: field.into(), message: message.into() }
    }

    pub(crate) fn choice<T: std::fmt::Display>(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        allowed: &[T],
    ) -> Self {
        SpaceError::InvalidChoice {
            field: field.into(),
            value: value.to_string(),
            allowed: allowed.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, SpaceError>;

/// A TOML parse error of `text` on one line: `line L, column C: what went wrong (in `the line`)`
/// (toml's own rendering spans several lines with a source excerpt, which a one-line CLI error
/// cannot hold; the quoted line names the field where the message does not).
pub fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else { return message };
    let start = span.start.min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let source = text[line_start..].lines().next().unwrap_or("").trim();
    if source.is_empty() {
        format!("line {line}, column {column}: {message}")
    } else {
        let source: String = source.chars().take(80).collect();
        format!("line {line}, column {column}: {message} (in `{source}`)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_errors_name_line_column_and_field_on_one_line() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            name: String,
        }
        let text = "name = \"x\"\n  colour = 1\n";
        let e = toml::from_str::<T>(text).unwrap_err();
        let line = toml_error_line(text, &e);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("line 2, column 3: "), "{line}");
        assert!(line.contains("colour") && line.contains("name"), "{line}");
        assert!(line.ends_with("(in `colour = 1`)"), "{line}");
        let text = "name = [1,\n 2]\n";
        let line = toml_error_line(text, &toml::from_str::<T>(text).unwrap_err());
        assert!(line.contains("name = [1,"), "the line of the field: {line}");
        let text = "name = \n";
        let line = toml_error_line(text, &toml::from_str::<T>(text).unwrap_err());
        assert!(line.starts_with("line 1, column "), "{line}");
    }
}
