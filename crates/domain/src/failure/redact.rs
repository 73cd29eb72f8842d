//! The redaction engine behind [`sanitize_message`].

use super::{MAX_MESSAGE_CHARS, REDACTED};

/// Makes a message safe to store: control characters removed (line breaks and tabs become
/// spaces), secrets redacted, and the length bounded to [`MAX_MESSAGE_CHARS`] characters.
///
/// Redacted are: bearer tokens (`Bearer abc`, `Bearer: abc`, `Bearer=abc`); the values of
/// `client_secret`, `password`, `access_token`, `refresh_token` and `api_key` (also `apikey`,
/// `api-key`) after `=` or `:`, and of `token` and `secret` (which also match inside longer keys
/// such as `id_token`) after `=` or a quoted key (`"token": …`; a bare `token:` is too common
/// in prose); and JWT-like strings (`eyJ….eyJ…` with any further segments, or three dotted
/// segments). Keys match case-insensitively. A quoted value is redacted up to its closing quote
/// (or the end of the text), so a secret with spaces does not leak. Sanitizing a sanitized
/// message changes nothing.
#[must_use]
pub fn sanitize_message(raw: &str) -> String {
    // Truncation can cut a redaction marker in half, and a redaction can bring the text under
    // the bound again; further passes settle that, so the result is a fixed point (sanitizing a
    // stored message again changes nothing).
    let mut current = sanitize_once(raw);
    for _ in 0..6 {
        let next = sanitize_once(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn sanitize_once(raw: &str) -> String {
    let visible: String = raw
        .chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    let redacted = redact_jwts(&redact_key_values(&redact_bearer(&visible)));
    truncate_chars(&redacted, MAX_MESSAGE_CHARS)
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => {
            let keep: String = text[..cut].chars().take(max.saturating_sub(1)).collect();
            format!("{keep}…")
        }
        None => text.to_owned(),
    }
}

/// Finds `needle` case-insensitively (ASCII) from byte `from`.
fn find_ascii_ci(haystack: &str, needle: &str, from: usize) -> Option<usize> {
    let hay = haystack.as_bytes();
    let needle = needle.as_bytes();
    (from..=hay.len().checked_sub(needle.len())?)
        .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

fn starts_with_ascii_ci(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn is_value_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '&' | ',' | ';' | '"' | '\'' | '}' | ')' | ']' | '>'))
}

/// Where the value after a key ending at byte `after_key` starts: past the key's closing quotes
/// (`"password": …`, also backslash-escaped inside embedded JSON), spaces, a `=` or `:`, and
/// spaces. `None` unless such a separator follows. With `colon_needs_quoted_key`, a `:` only
/// counts after a quoted key.
fn value_start(text: &str, after_key: usize, colon_needs_quoted_key: bool) -> Option<usize> {
    let rest = &text[after_key..];
    let unquoted = rest.trim_start_matches(['"', '\'', '\\']);
    let key_quoted = unquoted.len() < rest.len();
    let separator = unquoted.trim_start();
    match separator.chars().next() {
        Some('=') => {}
        Some(':') if key_quoted || !colon_needs_quoted_key => {}
        _ => return None,
    }
    let value = separator[1..].trim_start();
    Some(text.len() - value.len())
}

/// Writes [`REDACTED`] for the value starting at byte `start`; returns where the text resumes.
///
/// A quoted value (`"…"`, `'…'`, or `\"…\"` inside embedded JSON) runs to its closing quote, or
/// to the end of the text when there is none, so a secret with spaces cannot leak; the quotes
/// stay. An unquoted value runs to the next delimiter, a marker left by an earlier pass counting
/// as part of it: `[REDACTED]abc` loses its `abc`, while `[REDACTED]` before a delimiter stays
/// as it is (and `]`, a delimiter, cannot cut the marker).
fn replace_value(out: &mut String, text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let backslashes = rest.len() - rest.trim_start_matches('\\').len();
    if let Some(quote) = rest[backslashes..]
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '\''))
    {
        let content_start = start + backslashes + 1;
        let content = &text[content_start..];
        let close = if backslashes == 0 {
            closing_quote(content, quote)
        } else {
            // An escaped opening quote is closed by the same escape sequence.
            content.find(&rest[..=backslashes])
        };
        let content_end = close.map_or(text.len(), |i| content_start + i);
        out.push_str(&text[start..content_start]);
        if content_end > content_start {
            out.push_str(REDACTED);
        }
        return content_end;
    }
    let mut end = start;
    loop {
        let tail = &text[end..];
        if tail.starts_with(REDACTED) {
            end += REDACTED.len();
        } else if let Some(c) = tail.chars().next().filter(|c| is_value_char(*c)) {
            end += c.len_utf8();
        } else {
            break;
        }
    }
    if end > start {
        out.push_str(REDACTED);
    }
    end
}

/// The byte offset of the first unescaped `quote` in `content`.
fn closing_quote(content: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in content.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == quote {
            return Some(i);
        }
    }
    None
}

fn redact_bearer(text: &str) -> String {
    const WORD: &str = "bearer";
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(hit) = find_ascii_ci(text, WORD, pos) {
        let after_word = hit + WORD.len();
        // `Bearer abc`, `Bearer: abc`, `Bearer=abc`; not `bearers` or `"Bearer",`.
        let after_space = text.len() - text[after_word..].trim_start().len();
        let start = value_start(text, after_word, false)
            .or((after_space > after_word).then_some(after_space))
            // `Bearer Bearer abc`: the second word is the one followed by the token.
            .filter(|&start| !starts_with_ascii_ci(&text[start..], WORD));
        match start {
            Some(start) => {
                out.push_str(&text[pos..start]);
                pos = replace_value(&mut out, text, start);
            }
            None => {
                out.push_str(&text[pos..after_word]);
                pos = after_word;
            }
        }
    }
    out.push_str(&text[pos..]);
    out
}

/// Keys whose value is a secret after `=` or `:`. They match anywhere in a word.
const SECRET_KEYS: [&str; 7] = [
    "client_secret",
    "password",
    "access_token",
    "refresh_token",
    "api_key",
    "apikey",
    "api-key",
];
/// Keys whose value is a secret after `=` or a quoted key's `:`: a bare `token: expired` or
/// `/token: client_secret=…` is prose, not an assignment. Matching anywhere in a word, they also
/// cover `id_token=`, `csrftoken=`, `aws_secret=`.
const PROSE_SECRET_KEYS: [&str; 2] = ["token", "secret"];

fn redact_key_values(text: &str) -> String {
    let keys = SECRET_KEYS
        .iter()
        .map(|key| (*key, false))
        .chain(PROSE_SECRET_KEYS.iter().map(|key| (*key, true)));
    let mut current = text.to_owned();
    for (key, colon_needs_quoted_key) in keys {
        let mut out = String::with_capacity(current.len());
        let mut pos = 0;
        while let Some(hit) = find_ascii_ci(&current, key, pos) {
            let after_key = hit + key.len();
            match value_start(&current, after_key, colon_needs_quoted_key) {
                Some(start) => {
                    out.push_str(&current[pos..start]);
                    pos = replace_value(&mut out, &current, start);
                }
                None => {
                    out.push_str(&current[pos..after_key]);
                    pos = after_key;
                }
            }
        }
        out.push_str(&current[pos..]);
        current = out;
    }
    current
}

fn is_jwt_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=')
}

/// A JWT-like string: a JSON header and payload (`eyJ….eyJ…`) with or without further segments,
/// which may be empty (an unsigned token ends with a dot); or three or more non-empty
/// dot-separated segments, the first starting with `eyJ`, or all of at least 16 characters.
fn looks_like_jwt(word: &str) -> bool {
    let segments: Vec<&str> = word.split('.').collect();
    if segments.len() >= 2 && segments[0].starts_with("eyJ") && segments[1].starts_with("eyJ") {
        return true;
    }
    if segments.len() < 3 || segments.iter().take(3).any(|s| s.is_empty()) {
        return false;
    }
    segments[0].starts_with("eyJ") || segments.iter().take(3).all(|s| s.len() >= 16)
}

/// Where a JWT-like string starts in a word: at its start, or at an `eyJ` header glued to
/// what precedes it (`id=eyJ…`, `xeyJ…`). What precedes it is kept.
fn jwt_start(word: &str) -> Option<usize> {
    std::iter::once(0)
        .chain(word.match_indices("eyJ").map(|(i, _)| i))
        .find(|&i| looks_like_jwt(&word[i..]))
}

fn redact_jwts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start: Option<usize> = None;
    let flush = |out: &mut String, word: &str| match jwt_start(word) {
        Some(start) => {
            out.push_str(&word[..start]);
            out.push_str(REDACTED);
        }
        None => out.push_str(word),
    };
    for (i, c) in text.char_indices() {
        match (is_jwt_char(c), word_start) {
            (true, None) => word_start = Some(i),
            (false, Some(start)) => {
                flush(&mut out, &text[start..i]);
                word_start = None;
                out.push(c);
            }
            (false, None) => out.push(c),
            (true, Some(_)) => {}
        }
    }
    if let Some(start) = word_start {
        flush(&mut out, &text[start..]);
    }
    out
}

#[cfg(test)]
mod tests;
