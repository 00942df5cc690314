//! `GET /status`: a page for ops (one HTML file, no external assets) that reads the gateway's own
//! JSON APIs with a token the user pastes: schema generation and reload state, jobs, upstream,
//! outbox, devices and open conflicts, refreshed every few seconds.

use poem::endpoint::BoxEndpoint;
use poem::{EndpointExt, IntoEndpoint};

const PAGE: &str = include_str!("status_page.html");

/// The page for a gateway whose sync API is under `prefix`.
pub fn page(prefix: &str) -> BoxEndpoint<'static> {
    let html = render(prefix);
    poem::endpoint::make_sync(move |_| poem::web::Html(html.clone()))
        .into_endpoint()
        .map_to_response()
        .boxed()
}

fn render(prefix: &str) -> String {
    // The prefix lands in a script's string literal: as a JSON string, with `</` broken up so
    // that it cannot end the script element.
    let literal = serde_json::to_string(prefix)
        .unwrap_or_else(|_| "\"\"".into())
        .replace("</", "<\\/");
    PAGE.replace("\"__SYNCGATE_API_PREFIX__\"", &literal)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_prefix_becomes_a_string_literal_that_cannot_end_the_script() {
        let html = super::render("/a\"b</script>");
        assert!(
            html.contains(r#"var RAW_PREFIX = "/a\"b<\/script>";"#),
            "placeholder replaced"
        );
        assert!(!html.contains("__SYNCGATE_API_PREFIX__"));
    }
}
