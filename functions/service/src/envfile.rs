//! The `.env` format, read literally: `NAME=value` lines, `#` comments,
//! an optional `export ` prefix, values in single or double quotes or
//! bare. Nothing is expanded (`$HOME` stays `$HOME`: a secret holding a
//! `$` is kept as written), and an error names the line and the problem,
//! never the value, which may be the API key.

/// A line that is not a setting, comment or blank.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct EnvFileError {
    /// 1-based.
    pub line: usize,
    pub problem: &'static str,
}

/// The settings of `text`, in order (a later line with the same name wins
/// when they are collected into a map).
pub fn parse(text: &str) -> Result<Vec<(String, String)>, EnvFileError> {
    let mut settings = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let fail = |problem| EnvFileError {
            line: index + 1,
            problem,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let (name, rest) = line.split_once('=').ok_or(fail("expected NAME=value"))?;
        let name = name.trim_end();
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(fail(
                "the name must be letters, digits and underscores, not starting with a digit",
            ));
        }
        let value = value(rest.trim_start()).map_err(fail)?;
        settings.push((name.to_owned(), value));
    }
    Ok(settings)
}

/// A value: quoted (the quotes removed, `\"` and `\\` unescaped inside
/// double quotes) or bare (up to a ` #` comment, trimmed).
fn value(rest: &str) -> Result<String, &'static str> {
    let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
        let bare = match rest.find(" #") {
            Some(comment) => &rest[..comment],
            None => rest,
        };
        return Ok(bare.trim_end().to_owned());
    };
    let mut value = String::new();
    let mut chars = rest[1..].chars();
    loop {
        match chars.next() {
            None => return Err("a quote opened on this line is not closed on it"),
            Some(c) if c == quote => break,
            Some('\\') if quote == '"' => match chars.next() {
                Some(escaped @ ('"' | '\\')) => value.push(escaped),
                Some(other) => {
                    value.push('\\');
                    value.push(other);
                }
                None => return Err("a quote opened on this line is not closed on it"),
            },
            Some(c) => value.push(c),
        }
    }
    let after: String = chars.collect();
    let after = after.trim_start();
    if !(after.is_empty() || after.starts_with('#')) {
        return Err("only a # comment may follow a quoted value");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Result<(String, String), EnvFileError> {
        parse(line).map(|mut settings| settings.remove(0))
    }

    #[test]
    fn values_are_read_literally_in_every_form() {
        let pair = |name: &str, value: &str| (name.to_owned(), value.to_owned());
        assert_eq!(
            one("API_KEY=abc$HOME${X}def"),
            Ok(pair("API_KEY", "abc$HOME${X}def"))
        );
        assert_eq!(one("export A = 'x $Y # z' # c"), Ok(pair("A", "x $Y # z")));
        assert_eq!(one(r#"B="q\"u\\o\te""#), Ok(pair("B", r#"q"u\o\te"#)));
        assert_eq!(one("C=bare value # comment"), Ok(pair("C", "bare value")));
        assert_eq!(one("D=a#b"), Ok(pair("D", "a#b")));
        assert_eq!(one("E="), Ok(pair("E", "")));
        let text = "# comment\n\n  F=1\nF=2\n";
        assert_eq!(parse(text), Ok(vec![pair("F", "1"), pair("F", "2")]));
    }

    #[test]
    fn a_malformed_line_is_named_by_number_without_its_value() {
        let secret = "s3cr3t-value-of-twenty-chars";
        for (text, line) in [
            (format!("A=1\n{secret}\n"), 2),
            (format!("A=1\n\nAPI_KEY='{secret}\n"), 3),
            (format!("API_KEY=\"{secret}\" tail"), 1),
            (format!("1X={secret}"), 1),
            (format!("A B={secret}"), 1),
        ] {
            let err = parse(&text).unwrap_err();
            assert_eq!(err.line, line, "{text}");
            assert!(!err.to_string().contains(secret), "{err}");
        }
    }
}
