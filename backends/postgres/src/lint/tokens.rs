//! Just enough of PostgreSQL's lexer for the lint: comments, string literals, dollar
//! quotes and quoted identifiers are recognised (so a keyword inside them is not one), and a
//! script is split into statements at top-level semicolons.

/// One token of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A keyword or an unquoted identifier, upper-cased (PostgreSQL folds unquoted names).
    Word(String),
    /// A `"quoted identifier"`, as written inside the quotes.
    Quoted(String),
    /// A string literal or a dollar-quoted body (its content does not matter here).
    Literal,
    /// Anything else, one character: `(`, `)`, `,`, `.`, `=`, a digit…
    Symbol(char),
}

impl Token {
    /// Whether this is the keyword `word` (upper case).
    pub(crate) fn is(&self, word: &str) -> bool {
        matches!(self, Token::Word(w) if w == word)
    }

    /// The name this token spells, as PostgreSQL resolves it (unquoted: lower case).
    pub(crate) fn name(&self) -> Option<String> {
        match self {
            Token::Word(w) => Some(w.to_ascii_lowercase()),
            Token::Quoted(q) => Some(q.clone()),
            _ => None,
        }
    }
}

/// A statement: its tokens and its text (for messages).
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) tokens: Vec<Token>,
    pub(crate) text: String,
}

/// Splits `sql` into statements (empty ones dropped).
pub(crate) fn statements(sql: &str) -> Vec<Statement> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut tokens = Vec::new();
    let mut text = String::new();
    let mut depth = 0i32;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let start = i;
        match c {
            '-' if next == Some('-') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '/' if next == Some('*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
                continue;
            }
            '\'' => {
                i = skip_quoted(&chars, i, '\'');
                tokens.push(Token::Literal);
            }
            '"' => {
                let end = skip_quoted(&chars, i, '"');
                let inner: String = chars[i + 1..end.saturating_sub(1).max(i + 1)]
                    .iter()
                    .collect();
                tokens.push(Token::Quoted(inner.replace("\"\"", "\"")));
                i = end;
            }
            '$' if dollar_tag(&chars, i).is_some() => {
                let tag = dollar_tag(&chars, i).unwrap_or_default();
                let body = i + tag.len();
                let close = find(&chars, body, &tag).unwrap_or(chars.len());
                i = (close + tag.len()).min(chars.len());
                tokens.push(Token::Literal);
            }
            c if c.is_alphabetic() || c == '_' => {
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push(Token::Word(word.to_ascii_uppercase()));
            }
            ';' if depth == 0 => {
                push(&mut out, &mut tokens, &mut text);
                i += 1;
                continue;
            }
            c if c.is_whitespace() => {
                i += 1;
                if !text.is_empty() && !text.ends_with(' ') {
                    text.push(' ');
                }
                continue;
            }
            c => {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                tokens.push(Token::Symbol(c));
                i += 1;
            }
        }
        text.extend(&chars[start..i.min(chars.len())]);
    }
    push(&mut out, &mut tokens, &mut text);
    out
}

fn push(out: &mut Vec<Statement>, tokens: &mut Vec<Token>, text: &mut String) {
    if !tokens.is_empty() {
        out.push(Statement {
            tokens: std::mem::take(tokens),
            text: text.trim().to_string(),
        });
    }
    text.clear();
}

/// The index just past the literal or identifier quoted with `quote` that starts at `i`
/// (a doubled quote inside it is part of it).
fn skip_quoted(chars: &[char], i: usize, quote: char) -> usize {
    let mut j = i + 1;
    while j < chars.len() {
        if chars[j] == quote {
            if chars.get(j + 1) == Some(&quote) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    chars.len()
}

/// `$tag$` starting at `i`, if there is one.
fn dollar_tag(chars: &[char], i: usize) -> Option<String> {
    let mut j = i + 1;
    while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    (chars.get(j) == Some(&'$')).then(|| chars[i..=j].iter().collect())
}

fn find(chars: &[char], from: usize, needle: &str) -> Option<usize> {
    let needle: Vec<char> = needle.chars().collect();
    (from..chars.len().saturating_sub(needle.len() - 1))
        .find(|&k| chars[k..k + needle.len()] == needle[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_literals_and_quotes_hide_keywords_and_semicolons() {
        let sql =
            "-- CREATE INDEX x;\nSELECT 'a; CREATE INDEX' /* ; */, $f$ ; $f$, \"Odd\"\"Name\";\n\
                   CREATE index i ON t (a);";
        let found = statements(sql);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0].tokens,
            vec![
                Token::Word("SELECT".into()),
                Token::Literal,
                Token::Symbol(','),
                Token::Literal,
                Token::Symbol(','),
                Token::Quoted("Odd\"Name".into()),
            ]
        );
        assert!(found[1].tokens[1].is("INDEX"));
        assert_eq!(found[1].text, "CREATE index i ON t (a)");
    }

    #[test]
    fn semicolons_inside_parentheses_do_not_split() {
        assert_eq!(statements("SELECT (1;2); SELECT 3").len(), 2);
    }
}
