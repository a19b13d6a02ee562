//! An axum service whose requests continue their caller's trace: a middleware opens each
//! request's span with the `traceparent` header as a field, so every line, action and job run
//! inside it carries the caller's trace id (and a span id of its own). Without the header a
//! request starts a trace of its own.
//!
//! ```sh
//! cargo run --features web --example axum_trace &
//! curl -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' http://127.0.0.1:3000/orders
//! grep 4bf92f3577b34da6a3ce929d0e0e4736 logs/latest.log
//! ```

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tracing::Instrument;

/// Opens the request's span, continuing the trace its `traceparent` header names.
async fn traced(req: Request, next: Next) -> Response {
    let traceparent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        traceparent,
    );
    next.run(req).instrument(span).await
}

async fn orders() -> &'static str {
    tracing::info!(
        action_type = "orders_listed",
        user_id = "ada",
        "orders listed"
    );
    "[]"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = actionlog::init()?;
    let app = Router::new()
        .route("/orders", get(orders))
        .layer(middleware::from_fn(traced));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
