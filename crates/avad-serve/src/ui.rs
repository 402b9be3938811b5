//! The web UI: three static files embedded in the binary (`crates/avad-serve/web/`: no build step, no CDN, works
//! offline), served without a token under `/ui/` — the page holds no data; it asks for a token, keeps it in
//! `sessionStorage` and sends it as `Authorization: Bearer` on every API call. Its page carries its own
//! Content-Security-Policy, the narrowest the UI works with: scripts, styles, API calls and media from the same
//! origin only, no inline script or style, no frames, no forms posting anywhere, no plugins.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// The page.
pub const INDEX_HTML: &str = include_str!("../web/index.html");
/// The script (the whole UI).
pub const APP_JS: &str = include_str!("../web/app.js");
/// The style sheet.
pub const APP_CSS: &str = include_str!("../web/app.css");

/// The policy of the UI's page (every other answer keeps the server's `default-src 'none'`).
pub const UI_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                          media-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; \
                          base-uri 'none'; object-src 'none'";

fn asset(body: &'static str, content_type: &'static str, csp: Option<&'static str>) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(csp) = csp {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    r
}

/// `/` (to `/ui/`), `/ui/`, `/ui/app.js`, `/ui/app.css`, and an empty `/favicon.ico` (browsers ask for one).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route(
            "/ui/",
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8", Some(UI_CSP)) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8", None) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset(APP_CSS, "text/css; charset=utf-8", None) }),
        )
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_no_inline_script_or_style_and_loads_only_its_own_files() {
        let lower = INDEX_HTML.to_ascii_lowercase();
        // One script element, with a src, and no inline handlers or styles.
        assert_eq!(lower.matches("<script").count(), 1);
        assert!(lower.contains("<script src=\"/ui/app.js\"></script>"));
        for bad in [
            " onclick=",
            " onload=",
            " onerror=",
            " style=",
            "<style",
            "javascript:",
            "http://",
            "https://",
        ] {
            assert!(!lower.contains(bad), "{bad}");
        }
        // The script writes text, never HTML.
        for bad in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!APP_JS.contains(bad), "{bad} in app.js");
        }
    }
}
