//! Response headers that keep pages inert and unframeable, the `Origin` check of POSTs, and
//! request tracing.

use crate::error::Refusal;
use crate::views;
use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, header};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// The Content-Security-Policy of every response: nothing loads but the page's own stylesheet
/// (by hash), no script at all, forms post only to this origin, no framing.
pub(crate) static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(views::STYLE.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest);
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
});

fn header_value(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

/// Adds the security headers and a tracing span per request to every route, fallback
/// included, so a legacy URL and an unknown one get the same headers.
pub(crate) fn harden<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let fixed: [(HeaderName, Option<HeaderValue>); 5] = [
        (
            header::CONTENT_SECURITY_POLICY,
            header_value(&CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            Some(HeaderValue::from_static("nosniff")),
        ),
        (
            header::X_FRAME_OPTIONS,
            Some(HeaderValue::from_static("DENY")),
        ),
        // Not `no-referrer`: under it browsers send `Origin: null` with a form POST, and the
        // page's own forms would fail the origin check.
        (
            header::REFERRER_POLICY,
            Some(HeaderValue::from_static("same-origin")),
        ),
        (
            header::CACHE_CONTROL,
            Some(HeaderValue::from_static("no-store")),
        ),
    ];
    let mut router = router;
    for (name, value) in fixed {
        if let Some(value) = value {
            router = router.layer(SetResponseHeaderLayer::overriding(name, value));
        }
    }
    router.layer(
        TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            tracing::info_span!(
                "http_request",
                method = %request.method(),
                path = %request.uri().path(),
                user = tracing::field::Empty,
                workspace = tracing::field::Empty,
            )
        }),
    )
}

/// Records the workspace on the request's span.
pub(crate) fn record_workspace(workspace: i64) {
    tracing::Span::current().record("workspace", workspace);
}

/// A POST must come from this origin: an `Origin` header, when sent (browsers always send it
/// on POST), must name the request's `Host` or an allowed origin; `Sec-Fetch-Site`, when sent,
/// must not be `cross-site`. Clients that send neither (scripts with a bearer token) pass:
/// they carry no ambient credentials for another site to borrow.
pub(crate) fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), Refusal> {
    const REFUSED: Refusal = Refusal::Forbidden("cross-origin requests are refused");
    if headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes() == b"cross-site")
    {
        return Err(REFUSED);
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().map_err(|_| REFUSED)?;
    if allowed.iter().any(|a| a.trim_end_matches('/') == origin) {
        return Ok(());
    }
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or(REFUSED)?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or(REFUSED)?;
    if authority.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(REFUSED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn same_origin_and_originless_posts_pass_others_do_not() {
        let ok = [
            headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
            ]),
            headers(&[
                ("host", "admin.example"),
                ("origin", "https://admin.example"),
            ]),
            headers(&[("host", "127.0.0.1:8080")]),
            headers(&[("host", "h"), ("origin", "https://proxy.example")]),
        ];
        let allowed = ["https://proxy.example".to_owned()];
        for h in &ok {
            assert!(check_origin(h, &allowed).is_ok(), "{h:?}");
        }
        let refused = [
            headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://evil.example"),
            ]),
            headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]),
            headers(&[("origin", "http://127.0.0.1:8080")]),
            headers(&[("host", "a"), ("sec-fetch-site", "cross-site")]),
        ];
        for h in &refused {
            assert!(check_origin(h, &allowed).is_err(), "{h:?}");
        }
    }

    #[test]
    fn the_policy_allows_no_script_and_no_framing() {
        let csp = CONTENT_SECURITY_POLICY.as_str();
        assert!(csp.starts_with("default-src 'none';"));
        assert!(!csp.contains("script-src") && !csp.contains("unsafe"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }
}
