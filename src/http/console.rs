//! The operator console of the call centre (issue 6): one page, its script and its stylesheet,
//! built into the binary with `include_str!` and served at `/console`.
//!
//! The page talks only to this gateway (`/v1/hotline/*`, `/v1/reports/{code}`); every asset is
//! local (no CDN, no external fonts), and the Content-Security-Policy forbids anything else,
//! inline scripts included. The assets are small and change with the binary, so they are sent
//! with `Cache-Control: no-cache` (revalidated, never stale after an upgrade).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX_HTML: &str = include_str!("console/index.html");
const CONSOLE_JS: &str = include_str!("console/console.js");
const CONSOLE_CSS: &str = include_str!("console/console.css");

/// Same origin only; no inline script or style, no plugins, no framing, no base rewriting.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The console's routes, merged into the gateway's router.
pub fn routes() -> Router<super::AppState> {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/console.js", get(script))
        .route("/console/console.css", get(stylesheet))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
}

async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", CONSOLE_JS)
}

async fn stylesheet() -> impl IntoResponse {
    asset("text/css; charset=utf-8", CONSOLE_CSS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_local_assets_and_no_inline_script() {
        assert!(INDEX_HTML.contains(r#"src="/console/console.js""#));
        assert!(INDEX_HTML.contains(r#"href="/console/console.css""#));
        assert!(!INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"));
        assert!(!CONSOLE_JS.contains("http://") && !CONSOLE_JS.contains("https://"));
        assert!(!CONSOLE_CSS.contains("url(http"));
        // Every <script> has a src (nothing inline), and no inline event handlers.
        assert_eq!(INDEX_HTML.matches("<script").count(), INDEX_HTML.matches("<script src=").count());
        assert!(!INDEX_HTML.contains(" onclick=") && !INDEX_HTML.contains(" style="));
        // Text from the server goes in with textContent only.
        assert!(!CONSOLE_JS.contains("innerHTML") && !CONSOLE_JS.contains("insertAdjacentHTML"));
    }
}
