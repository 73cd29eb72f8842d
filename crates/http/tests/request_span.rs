//! Each request's span names the user and the workspace. Alone in its binary, so tracing's
//! call-site cache, filled by other tests without a subscriber, cannot hide the span.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::{Arc, Mutex};
use support::{Who, seeded};
use tracing::field::{Field, Visit};
use tracing::span::{Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Recorded = Arc<Mutex<Vec<(String, String)>>>;

struct Capture(Recorded);

struct Fields<'a>(&'a Recorded);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .lock()
            .unwrap()
            .push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if ctx
            .span(id)
            .is_some_and(|span| span.name() == "http_request")
        {
            values.record(&mut Fields(&self.0));
        }
    }
}

#[tokio::test]
async fn the_request_span_records_user_and_workspace() {
    let recorded: Recorded = Arc::default();
    let subscriber = tracing_subscriber::registry().with(Capture(recorded.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    let world = seeded().await;
    recorded.lock().unwrap().clear();
    let uri = format!("/workspaces/{}/operations", world.ws);
    assert!(world.viewer_gets(&uri).await.status.is_success());
    let fields = recorded.lock().unwrap().clone();
    let user = Who::Viewer.user().unwrap().get().to_string();
    assert!(fields.contains(&("user".to_owned(), user)), "{fields:?}");
    assert!(
        fields.contains(&("workspace".to_owned(), world.ws.get().to_string())),
        "{fields:?}"
    );
}
