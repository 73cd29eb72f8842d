//! The redaction engine behind [`sanitize_message`].

use super::{MAX_MESSAGE_CHARS, REDACTED};

/// Makes a message safe to store: control characters removed (line breaks and tabs become
/// spaces), secrets redacted, and the length bounded to [`MAX_MESSAGE_CHARS`] characters.
///
/// Redacted are:
/// - bearer tokens (`Bearer abc`, `Bearer: abc`, `Bearer=abc`) and the credentials of an
///   `Authorization` header (`Authorization: Basic [REDACTED]`, the scheme stays);
/// - the values of `client_secret`, `password`, `access_token`, `refresh_token`, API keys
///   (`api_key`, `apikey`, `x-api-key`, `Ocp-Apim-Subscription-Key`) and Azure keys
///   (`AccountKey`, `SharedAccessKey`) after `=` or `:`; of `token`, `secret`, `pwd` and `sig`
///   (a shared access signature) after `=` or a quoted key (`"token": …`; a bare `token:` is
///   too common in prose). Keys match case-insensitively, also inside longer keys such as
///   `id_token`. A quoted value is redacted up to its closing quote (or the end of the text), so
///   a secret with spaces does not leak; in a connection string (`Server=…;Password=two words;`)
///   the value of `Password`, `Pwd`, `AccountKey` and `SharedAccessKey` runs to the next `;`;
/// - the password of a URL's userinfo (`https://admin:[REDACTED]@host/…`);
/// - the body of a PEM private key block, across lines;
/// - JWT-like strings (`eyJ….eyJ…` with any further segments, or three dotted segments).
///
/// Sanitizing a sanitized message changes nothing.
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
    // Private keys first: their body is long and would otherwise be cut by other passes.
    let redacted = redact_jwts(&redact_key_values(&redact_basic(&redact_bearer(
        &redact_url_passwords(&redact_private_keys(&visible)),
    ))));
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

/// A key whose value is a secret. Keys match case-insensitively, anywhere in a word
/// (`client_secret` also covers `aad_client_secret`).
struct SecretKey {
    key: &'static str,
    /// A `:` separates the value only after a quoted key (`"token": …`): a bare `token: expired`
    /// or `/token: client_secret=…` is prose, not an assignment.
    colon_needs_quoted_key: bool,
    /// A connection-string field (`…;Password=two words;…`): when a `;` precedes the key, its
    /// value runs to the next `;`, since such values may hold spaces.
    connection_field: bool,
    /// An `Authorization` header: the scheme before the credentials stays readable.
    header_scheme: bool,
}

const fn key(key: &'static str) -> SecretKey {
    SecretKey {
        key,
        colon_needs_quoted_key: false,
        connection_field: false,
        header_scheme: false,
    }
}

const fn prose_key(key: &'static str) -> SecretKey {
    SecretKey {
        colon_needs_quoted_key: true,
        ..self::key(key)
    }
}

const fn connection_field(key: SecretKey) -> SecretKey {
    SecretKey {
        connection_field: true,
        ..key
    }
}

const SECRET_KEYS: [SecretKey; 15] = [
    key("client_secret"),
    connection_field(key("password")),
    key("access_token"),
    key("refresh_token"),
    // `api_key=`, `apikey=`, and the `x-api-key` header.
    key("api_key"),
    key("apikey"),
    key("api-key"),
    // Azure API Management's `Ocp-Apim-Subscription-Key` header.
    key("subscription-key"),
    // Azure storage and Service Bus connection strings.
    connection_field(key("accountkey")),
    connection_field(key("sharedaccesskey")),
    SecretKey {
        header_scheme: true,
        ..key("authorization")
    },
    // `id_token=`, `csrftoken=`, `aws_secret=`.
    prose_key("token"),
    prose_key("secret"),
    // ODBC and ADO.NET connection strings (`Uid=sa;Pwd=…`).
    connection_field(prose_key("pwd")),
    // A shared access signature in a URL query (`…&sig=…`).
    prose_key("sig"),
];

/// Authorization schemes kept in front of the credentials they introduce.
const AUTH_SCHEMES: [&str; 5] = ["basic", "bearer", "digest", "negotiate", "ntlm"];

fn redact_key_values(text: &str) -> String {
    let mut current = text.to_owned();
    for secret in &SECRET_KEYS {
        let mut out = String::with_capacity(current.len());
        let mut pos = 0;
        while let Some(hit) = find_ascii_ci(&current, secret.key, pos) {
            let after_key = hit + secret.key.len();
            match value_start(&current, after_key, secret.colon_needs_quoted_key) {
                Some(start) => {
                    let start = if secret.header_scheme {
                        after_scheme(&current, start)
                    } else {
                        start
                    };
                    out.push_str(&current[pos..start]);
                    pos = if secret.connection_field
                        && current[after_key..start].contains('=')
                        && follows_semicolon(&current[..hit])
                    {
                        replace_field_value(&mut out, &current, start)
                    } else {
                        replace_value(&mut out, &current, start)
                    };
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

/// Past an authorization scheme and its spaces at byte `start` (`Basic abc` → `abc`), or
/// `start` when no known scheme is there.
fn after_scheme(text: &str, start: usize) -> usize {
    let rest = &text[start..];
    AUTH_SCHEMES
        .iter()
        .find(|scheme| {
            starts_with_ascii_ci(rest, scheme)
                && rest[scheme.len()..].starts_with(char::is_whitespace)
        })
        .map_or(start, |scheme| {
            text.len() - rest[scheme.len()..].trim_start().len()
        })
}

/// Whether the key word ending `before` is the field of a connection string: a `;` precedes it
/// (`Server=x;User Id=a;Password=…`).
fn follows_semicolon(before: &str) -> bool {
    before
        .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' '))
        .ends_with(';')
}

/// Like [`replace_value`] for a connection-string field: an unquoted value runs to the next `;`
/// (or the end of the text), a braced one (`{a;b}`, ODBC) to its `}`.
fn replace_field_value(out: &mut String, text: &str, start: usize) -> usize {
    let rest = &text[start..];
    if rest.starts_with(['"', '\'', '\\']) {
        return replace_value(out, text, start);
    }
    let (content_start, closing) = if rest.starts_with('{') {
        (start + 1, '}')
    } else {
        (start, ';')
    };
    out.push_str(&text[start..content_start]);
    let content_end = text[content_start..]
        .find(closing)
        .map_or(text.len(), |i| content_start + i);
    if content_end > content_start {
        out.push_str(REDACTED);
    }
    content_end
}

/// The password of a URL's userinfo (`https://admin:S3cret@host/…` →
/// `https://admin:[REDACTED]@host/…`); scheme, user and host stay. The authority runs from `//`
/// (also `\/\/`, as JSON encoders may escape it) to the next `/`, `?`, `#`, quote or space; its
/// userinfo up to the last `@` in it; the password from the first `:` of the userinfo.
fn redact_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut from = 0;
    while let Some((hit, slashes)) = ["//", "\\/\\/"]
        .iter()
        .filter_map(|slashes| Some((from + text[from..].find(slashes)?, slashes.len())))
        .min()
    {
        from = hit + 1;
        let authority_start = hit + slashes;
        let authority = &text[authority_start..];
        let authority = &authority[..authority
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '/' | '\\' | '?' | '#' | '"' | '\'' | '<' | '>')
            })
            .unwrap_or(authority.len())];
        let Some(at) = authority
            .rfind('@')
            .or_else(|| unencoded_userinfo_end(&text[authority_start..]))
        else {
            continue;
        };
        let Some(colon) = text[authority_start..authority_start + at].find(':') else {
            continue;
        };
        let secret_start = authority_start + colon + 1;
        if secret_start < pos {
            continue;
        }
        out.push_str(&text[pos..secret_start]);
        if at > colon + 1 {
            out.push_str(REDACTED);
        }
        pos = authority_start + at;
    }
    out.push_str(&text[pos..]);
    out
}

/// Where the userinfo of a URL ends whose password holds an unencoded `/`, `?` or `#`
/// (`https://admin:pa/ss@host`): at the first `@` before a space or quote, when a `:` follows a
/// plain user name and what follows the `:` is no port (`host:8443/p?mail=a@b` keeps its text).
fn unencoded_userinfo_end(after_slashes: &str) -> Option<usize> {
    let stretch = &after_slashes[..after_slashes
        .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
        .unwrap_or(after_slashes.len())];
    let at = stretch.find('@')?;
    let colon = stretch[..at].find(':')?;
    let user = &stretch[..colon];
    let after_colon = &stretch[colon + 1..at];
    let up_to_delimiter = &after_colon[..after_colon
        .find(['/', '\\', '?', '#'])
        .unwrap_or(after_colon.len())];
    let is_port =
        !up_to_delimiter.is_empty() && up_to_delimiter.bytes().all(|b| b.is_ascii_digit());
    let plain_user = !user.contains(['/', '\\', '?', '#', '@', '[', ']']);
    (plain_user && !is_port).then_some(at)
}

/// `Basic <credentials>` outside an `Authorization` header (which [`redact_key_values`] covers):
/// the credentials go when the word after `basic` looks like base64 (8 or more base64
/// characters with a digit, `+`, `/` or `=`, or a capital letter inside), so prose such as
/// "basic authentication failed" stays readable.
fn redact_basic(text: &str) -> String {
    const WORD: &str = "basic";
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut from = 0;
    while let Some(hit) = find_ascii_ci(text, WORD, from) {
        from = hit + WORD.len();
        let rest = &text[from..];
        let start = from + (rest.len() - rest.trim_start_matches([' ', ':', '=']).len());
        let token_len = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')))
            .unwrap_or(text.len() - start);
        let token = &text[start..start + token_len];
        let encoded = token.contains(|c: char| c.is_ascii_digit() || matches!(c, '+' | '/' | '='))
            || token.chars().skip(1).any(|c| c.is_ascii_uppercase());
        if start == from || token_len < 8 || !encoded || start < pos {
            continue;
        }
        out.push_str(&text[pos..start]);
        out.push_str(REDACTED);
        pos = start + token_len;
        from = pos;
    }
    out.push_str(&text[pos..]);
    out
}

/// The body of a PEM private key block (`-----BEGIN RSA PRIVATE KEY-----` … `-----END …`);
/// the armour lines stay, so a reader still sees what leaked. A block without its end line
/// (cut off) is redacted to the end of the text. Runs after control characters became spaces,
/// so a block spanning lines is one stretch of text.
fn redact_private_keys(text: &str) -> String {
    const BEGIN: &str = "-----BEGIN ";
    const END: &str = "-----END";
    const DASHES: &str = "-----";
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut from = 0;
    while let Some(hit) = find_ascii_ci(text, BEGIN, from) {
        from = hit + 1;
        let label_start = hit + BEGIN.len();
        let Some(label_len) = text[label_start..].find(DASHES) else {
            break;
        };
        if find_ascii_ci(
            &text[label_start..label_start + label_len],
            "PRIVATE KEY",
            0,
        )
        .is_none()
        {
            continue;
        }
        let body_start = label_start + label_len + DASHES.len();
        let footer = find_ascii_ci(text, END, body_start);
        let body_end = footer.unwrap_or(text.len());
        out.push_str(&text[pos..body_start]);
        if !text[body_start..body_end].trim().is_empty() {
            out.push(' ');
            out.push_str(REDACTED);
            if footer.is_some() {
                out.push(' ');
            }
        }
        pos = body_end;
        from = body_end;
    }
    out.push_str(&text[pos..]);
    out
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
