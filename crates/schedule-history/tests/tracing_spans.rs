//! The viewer reads open their tracing spans, whether the viewer is refused or not.
//!
//! Alone in its own test binary: tracing caches per call site whether anyone listens, and a test
//! running beside it on another thread without a subscriber could make that cache say "no one".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{SCHEDULE, WS, World};
use operation_runs_domain::UserId;
use operation_runs_schedule_history::HistoryQuery;
use std::sync::Arc;

/// Collects the names of the spans opened while it is the thread's subscriber.
#[derive(Clone, Default)]
struct SpanNames(Arc<std::sync::Mutex<Vec<&'static str>>>);

impl tracing::Subscriber for SpanNames {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut names = self.0.lock().unwrap();
        names.push(span.metadata().name());
        tracing::span::Id::from_u64(names.len() as u64)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn viewer_reads_are_traced_refused_or_not() {
    let world = World::new(3);
    world.succeeded(1);
    world.member(UserId::new(1), true);
    let history = world.history();
    let query = HistoryQuery::new(WS, SCHEDULE);
    let spans = SpanNames::default();
    let _traced = tracing::subscriber::set_default(spans.clone());

    history
        .page_for_viewer(UserId::new(1), &query)
        .await
        .unwrap();
    history
        .latest_for_viewer(UserId::new(1), WS, SCHEDULE)
        .await
        .unwrap();
    let allowed = std::mem::take(&mut *spans.0.lock().unwrap());
    assert_eq!(
        allowed,
        ["page_for_viewer", "page", "latest_for_viewer", "latest"]
    );

    // A refused viewer never reaches the inner reads; the request is still on record.
    assert!(
        history
            .page_for_viewer(UserId::new(3), &query)
            .await
            .is_err()
    );
    assert!(
        history
            .latest_for_viewer(UserId::new(3), WS, SCHEDULE)
            .await
            .is_err()
    );
    assert_eq!(
        *spans.0.lock().unwrap(),
        ["page_for_viewer", "latest_for_viewer"]
    );
}
