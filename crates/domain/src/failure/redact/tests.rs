//! Redaction: what goes, and what stays readable.

use super::*;
use crate::failure::MAX_MESSAGE_CHARS;
use proptest::prelude::*;

/// Each `(raw, expected)`: `raw` sanitizes to `expected`.
fn assert_sanitized(cases: &[(&str, &str)]) {
    for (raw, expected) in cases {
        assert_eq!(sanitize_message(raw), *expected, "{raw}");
    }
}

/// Each text holds no secret and comes through unchanged.
fn assert_kept(texts: &[&str]) {
    for text in texts {
        assert_eq!(sanitize_message(text), *text, "{text}");
    }
}

#[test]
fn redacts_known_secret_shapes() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX3ZhbHVl";
    assert_sanitized(&[
        (
            "Authorization: Bearer abc.def-123",
            "Authorization: Bearer [REDACTED]",
        ),
        (
            "token request failed: client_secret=s3cr3t&scope=x",
            "token request failed: client_secret=[REDACTED]&scope=x",
        ),
        (
            "PASSWORD = hunter2 rejected",
            "PASSWORD = [REDACTED] rejected",
        ),
        (
            r#"{"password": "hunter2"}"#,
            r#"{"password": "[REDACTED]"}"#,
        ),
        (&format!("got {jwt} back"), "got [REDACTED] back"),
    ]);
    assert_kept(&["see docs.example.com for help"]);
}

#[test]
fn strips_control_characters_and_bounds_length() {
    assert_eq!(sanitize_message("a\u{0}b\u{7}c\nd\te"), "abc d e");
    let long = "x".repeat(2 * MAX_MESSAGE_CHARS);
    let bounded = sanitize_message(&long);
    assert_eq!(bounded.chars().count(), MAX_MESSAGE_CHARS);
    assert!(bounded.ends_with('…'));
}

#[test]
fn quoted_values_are_redacted_to_their_closing_quote() {
    assert_sanitized(&[
        (
            r#"login failed: password="correct horse battery staple" (user alice)"#,
            r#"login failed: password="[REDACTED]" (user alice)"#,
        ),
        (
            "login failed: password='correct horse battery staple' (user alice)",
            "login failed: password='[REDACTED]' (user alice)",
        ),
        (
            r#"{"client_secret": "two words", "scope": "x"}"#,
            r#"{"client_secret": "[REDACTED]", "scope": "x"}"#,
        ),
        (
            r#"{"password": "with \"escaped\" quotes", "user": "a"}"#,
            r#"{"password": "[REDACTED]", "user": "a"}"#,
        ),
        (
            // JSON embedded in a JSON string: the quotes are escaped themselves.
            r#"body: {\"password\": \"two words\", \"user\": \"a\"}"#,
            r#"body: {\"password\": \"[REDACTED]\", \"user\": \"a\"}"#,
        ),
        (
            "password=\"never closed, all of this is secret",
            "password=\"[REDACTED]",
        ),
    ]);
    assert_kept(&[r#"password="""#]);
}

#[test]
fn unsigned_and_two_segment_jwts_are_redacted() {
    let header = "eyJhbGciOiJub25lIn0";
    let payload = "eyJzdWIiOiIxMjM0In0";
    let redacted = "got [REDACTED] back";
    assert_sanitized(&[
        (&format!("got {header}.{payload}. back"), redacted),
        (&format!("got {header}.{payload} back"), redacted),
        (&format!("got {header}.{payload}.. back"), redacted),
        (&format!("got {header}.{payload}.c2ln.extra back"), redacted),
        // Glued to what precedes it, the token goes and the rest stays.
        (&format!("id={header}.{payload}."), "id=[REDACTED]"),
        (&format!("x{header}.{payload}, y"), "x[REDACTED], y"),
    ]);
    // A lone header, or dotted words without one, is no token.
    assert_kept(&[&format!("{header} only"), "eyJ.notjwt", "v1.2.3"]);
}

#[test]
fn bearer_with_colon_or_equals_is_redacted() {
    assert_sanitized(&[
        ("Bearer:abc123secret", "Bearer:[REDACTED]"),
        ("bearer=abc123secret", "bearer=[REDACTED]"),
        ("BEARER : abc123secret end", "BEARER : [REDACTED] end"),
        ("Bearer = abc123secret", "Bearer = [REDACTED]"),
        (r#"{"bearer": "abc 123"}"#, r#"{"bearer": "[REDACTED]"}"#),
    ]);
    // The token type of an OAuth response names no secret.
    assert_kept(&[r#"{"token_type":"Bearer","expires_in":3599}"#]);
}

#[test]
fn a_value_starting_with_the_marker_is_redacted_whole() {
    assert_sanitized(&[
        (
            "client_secret=[REDACTED]abc&x=1",
            "client_secret=[REDACTED]&x=1",
        ),
        ("Bearer [REDACTED]abc", "Bearer [REDACTED]"),
        ("password=[REDACTED][REDACTED]xyz]", "password=[REDACTED]]"),
    ]);
    assert_kept(&[
        "client_secret=[REDACTED]&scope=x",
        "password=[REDACTED], retry",
        "Bearer [REDACTED])",
        "password=[REDACTED]",
    ]);
}

#[test]
fn oauth_keys_are_redacted_without_eating_prose() {
    assert_sanitized(&[
        (
            "refresh failed: access_token=at-1&refresh_token=rt-2&token_type=Bearer",
            "refresh failed: access_token=[REDACTED]&refresh_token=[REDACTED]&token_type=Bearer",
        ),
        ("id_token=abc.def", "id_token=[REDACTED]"),
        ("?token=abc&x=1", "?token=[REDACTED]&x=1"),
        ("api_key: k-123", "api_key: [REDACTED]"),
        ("X-Api-Key: k-123", "X-Api-Key: [REDACTED]"),
        ("apikey=k-123", "apikey=[REDACTED]"),
        ("secret=s-1", "secret=[REDACTED]"),
        (r#"{"token": "t 1"}"#, r#"{"token": "[REDACTED]"}"#),
        (r#"{'secret': 's-1'}"#, r#"{'secret': '[REDACTED]'}"#),
        (
            "POST /token: client_secret=s&grant_type=client_credentials",
            "POST /token: client_secret=[REDACTED]&grant_type=client_credentials",
        ),
    ]);
    // A bare `token:` or `secret:` is prose.
    assert_kept(&["invalid token: signature mismatch", "tokens=5 secrets: 2"]);
}

#[test]
fn url_passwords_go_and_scheme_user_and_host_stay() {
    assert_sanitized(&[
        (
            "GET https://admin:S3cret@files.example.com/share failed",
            "GET https://admin:[REDACTED]@files.example.com/share failed",
        ),
        (
            "postgres://svc:p%40ss:w0rd@db.internal:5432/app refused",
            "postgres://svc:[REDACTED]@db.internal:5432/app refused",
        ),
        (
            r#"{"url":"https:\/\/admin:S3cret@host.example\/api"}"#,
            r#"{"url":"https:\/\/admin:[REDACTED]@host.example\/api"}"#,
        ),
    ]);
    // No password, or no userinfo at all: nothing to redact.
    assert_kept(&[
        "https://admin@host.example/x",
        "http://[::1]:8080/health?mail=a@b.example",
    ]);
}

#[test]
fn authorization_credentials_go_and_the_scheme_stays() {
    assert_sanitized(&[
        (
            "401 with Authorization: Basic YWRtaW46UzNjcmV0 from proxy",
            "401 with Authorization: Basic [REDACTED] from proxy",
        ),
        (
            "proxy-authorization: NTLM TlRMTVNTUAAB",
            "proxy-authorization: NTLM [REDACTED]",
        ),
        ("Authorization: raw-key-1", "Authorization: [REDACTED]"),
        (
            r#"{"Authorization": "Basic YWRtaW46"}"#,
            r#"{"Authorization": "[REDACTED]"}"#,
        ),
    ]);
    // Prose naming the header keeps its words.
    assert_kept(&["authorization failed for user alice"]);
}

#[test]
fn connection_string_secrets_go_and_the_other_fields_stay() {
    assert_sanitized(&[
        (
            "Login failed: Server=tcp:db.example,1433;Database=app;User Id=sa;Password=correct horse;Encrypt=True",
            "Login failed: Server=tcp:db.example,1433;Database=app;User Id=sa;Password=[REDACTED];Encrypt=True",
        ),
        (
            "Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd={a;b c};",
            "Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd={[REDACTED]};",
        ),
        (
            "DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=q1w2e3r4t5==;EndpointSuffix=core.windows.net",
            "DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=[REDACTED];EndpointSuffix=core.windows.net",
        ),
        (
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=k3y=",
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=[REDACTED]",
        ),
        // Outside a connection string a value ends at the first space, as before.
        ("pwd=hunter2 rejected", "pwd=[REDACTED] rejected"),
    ]);
    assert_kept(&["cd to pwd: /srv"]);
}

#[test]
fn signatures_and_api_keys_go_and_the_rest_of_the_url_stays() {
    assert_sanitized(&[
        (
            "403 on https://acct.blob.core.windows.net/c/b.bak?sv=2022-11-02&sp=r&sig=AbC%2Bd%3D&se=2026-01-01",
            "403 on https://acct.blob.core.windows.net/c/b.bak?sv=2022-11-02&sp=r&sig=[REDACTED]&se=2026-01-01",
        ),
        (
            "x-api-key: k-123 rejected",
            "x-api-key: [REDACTED] rejected",
        ),
        (
            "Ocp-Apim-Subscription-Key: 0123abcd",
            "Ocp-Apim-Subscription-Key: [REDACTED]",
        ),
        (
            "?api_key=k1&apikey=k2&api-key=k3",
            "?api_key=[REDACTED]&apikey=[REDACTED]&api-key=[REDACTED]",
        ),
    ]);
    // `signature` and `design` are no `sig=`.
    assert_kept(&["signature=valid design=flat"]);
}

#[test]
fn private_key_blocks_go_whole_and_the_armour_stays() {
    let body = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE\n";
    let pem = format!("-----BEGIN RSA PRIVATE KEY-----\r\n{body}-----END RSA PRIVATE KEY-----");
    // Longer than a stored message: redacted before the message is cut to its bound.
    let long = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n".repeat(60)
    );
    assert_sanitized(&[
        (
            &format!("bad key {pem} rejected"),
            "bad key -----BEGIN RSA PRIVATE KEY----- [REDACTED] -----END RSA PRIVATE KEY----- rejected",
        ),
        (
            &long,
            "-----BEGIN PRIVATE KEY----- [REDACTED] -----END PRIVATE KEY-----",
        ),
        // Cut off before its end line: the rest of the text goes.
        (
            "key: -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB",
            "key: -----BEGIN EC PRIVATE KEY----- [REDACTED]",
        ),
    ]);
    // Public material is no secret.
    assert_kept(&["-----BEGIN CERTIFICATE----- MIIC -----END CERTIFICATE-----"]);
}

#[test]
fn bare_basic_credentials_go_and_prose_stays() {
    assert_sanitized(&[(
        "proxy said: Basic dXNlcjpwYXNz rejected",
        "proxy said: Basic [REDACTED] rejected",
    )]);
    assert_kept(&["basic authentication failed; Basic Authentication is off"]);
}

#[test]
fn url_passwords_with_unencoded_delimiters_go_and_ports_stay() {
    assert_sanitized(&[(
        "fetch https://admin:pa/ss?w#rd@host.example/x failed",
        "fetch https://admin:[REDACTED]@host.example/x failed",
    )]);
    assert_kept(&["GET https://host.example:8443/p?mail=a@b.example 404"]);
}

/// Words of at least 8 characters, so none can appear in the marker or a key by chance.
fn spaced_secret() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[A-Za-z0-9]{8,40}", 1..4)
}

/// `key` with the case of each letter chosen by a bit of `mask`.
fn mixed_case(key: &str, mask: u64) -> String {
    key.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

const KEYS: [&str; 16] = [
    "client_secret",
    "password",
    "access_token",
    "refresh_token",
    "api_key",
    "apikey",
    "api-key",
    "x-api-key",
    "ocp-apim-subscription-key",
    "accountkey",
    "sharedaccesskey",
    "authorization",
    "token",
    "secret",
    "pwd",
    "sig",
];

/// A message embedding the secret words in one of the known shapes.
fn embed(shape: usize, words: &[String], key: &str, quote: char) -> String {
    let one = &words[0];
    let spaced = words.join(" ");
    match shape {
        0 => format!("{key}={one}"),
        1 => format!("{key} = {quote}{spaced}{quote}"),
        2 => format!("{quote}{key}{quote}: {quote}{spaced}{quote}"),
        3 => format!("{key}={quote}{spaced}"),
        4 => format!("{key}=[REDACTED]{one}"),
        5 => format!("{}: {one}", mixed_case("password", key.len() as u64)),
        6 => format!("{} {one}", mixed_case("bearer", key.len() as u64)),
        7 => format!("{}:{one}", mixed_case("bearer", key.len() as u64)),
        8 => format!("{}= {one}", mixed_case("bearer", !(key.len() as u64))),
        9 => format!("eyJ{one}.{one}.{one}"),
        10 => format!("eyJ{one}.eyJ{one}."),
        11 => format!("eyJ{one}.eyJ{one}"),
        12 => format!("https://svc-backup:{one}@files.example.com:8443/share?x=1"),
        13 => format!(r#"{{"url":"https:\/\/admin:{one}@host.example\/api"}}"#),
        14 => format!(
            "{}: {} {one}",
            mixed_case("authorization", key.len() as u64),
            mixed_case("basic", !(key.len() as u64))
        ),
        15 => format!(
            "Server=tcp:db.example,1433;User Id=admin;{}={spaced};Encrypt=True",
            mixed_case(
                if quote == '"' { "password" } else { "pwd" },
                key.len() as u64
            )
        ),
        16 => format!(
            "DefaultEndpointsProtocol=https;AccountName=acct;{}={one}==;EndpointSuffix=core.windows.net",
            mixed_case("AccountKey", key.len() as u64)
        ),
        17 => format!(
            "GET https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&{}={one}%3D&se=x 403",
            mixed_case("sig", key.len() as u64)
        ),
        18 => format!(
            "curl -H '{}: {one}' https://api.example",
            mixed_case("x-api-key", key.len() as u64)
        ),
        19 => format!("{} {one}=", mixed_case("basic", key.len() as u64)),
        20 => format!("https://admin:{one}/{one}?q#{one}@files.example.com/share"),
        _ => format!(
            "-----BEGIN {} PRIVATE KEY-----\r\n{}\n-----END PRIVATE KEY-----",
            if quote == '"' { "RSA" } else { "ENCRYPTED" },
            words.join("\n")
        ),
    }
}

/// Pieces that steer the sanitizer into its corners: keys, separators, quotes, escapes, the
/// marker itself, JWT headers, delimiters, and non-ASCII text.
fn tricky_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "password",
        "PassWord",
        "client_secret",
        "token",
        "access_token",
        "secret",
        "api-key",
        "bearer",
        "Bearer",
        "=",
        ":",
        " ",
        "  ",
        "\"",
        "'",
        "\\",
        "\\\"",
        "[REDACTED]",
        "[REDAC",
        "]",
        "[",
        "&",
        ",",
        "}",
        ")",
        "eyJ",
        "eyJa",
        ".",
        "abc",
        "x9",
        "…",
        "é",
        "日本",
        "\u{a0}",
        "\n",
        "//",
        "\\/\\/",
        "@",
        ";",
        "{",
        "pwd",
        "sig",
        "AccountKey",
        "Authorization",
        "Basic ",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----BEGIN ",
        "-----END",
        "-----",
    ]);
    (proptest::collection::vec(pieces, 0..60), 1usize..30)
        .prop_map(|(pieces, repeat)| pieces.concat().repeat(repeat))
}

proptest! {
    #[test]
    fn no_secret_survives(
        prefix in any::<String>(),
        suffix in any::<String>(),
        words in spaced_secret(),
        shape in 0usize..22,
        key in prop::sample::select(KEYS.to_vec()),
        case_mask in any::<u64>(),
        double_quotes in any::<bool>(),
        glued in any::<bool>(),
    ) {
        let key = mixed_case(key, case_mask);
        let quote = if double_quotes { '"' } else { '\'' };
        let embedded = embed(shape, &words, &key, quote);
        let gap = if glued { "" } else { " " };
        let message = format!("{prefix}{gap}{embedded}{gap}{suffix}");
        let clean = sanitize_message(&message);
        for word in &words {
            prop_assert!(!clean.contains(word.as_str()), "{clean:?} leaks {word:?}");
        }
        prop_assert_eq!(sanitize_message(&clean), clean.clone());
    }

    #[test]
    fn sanitizing_tricky_text_is_idempotent_and_bounded(raw in tricky_text()) {
        let once = sanitize_message(&raw);
        prop_assert!(once.chars().count() <= MAX_MESSAGE_CHARS);
        prop_assert!(!once.chars().any(char::is_control));
        prop_assert_eq!(sanitize_message(&once), once.clone());
    }

    #[test]
    fn bounds_hold_for_any_input(raw in any::<String>(), repeat in 1usize..400) {
        let clean = sanitize_message(&raw.repeat(repeat));
        prop_assert!(clean.chars().count() <= MAX_MESSAGE_CHARS);
        prop_assert!(!clean.chars().any(char::is_control));
    }

    #[test]
    fn sanitizing_is_idempotent(raw in any::<String>()) {
        let once = sanitize_message(&raw);
        prop_assert_eq!(sanitize_message(&once), once.clone());
    }
}
