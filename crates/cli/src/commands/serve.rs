//! `oprun serve`: the monitoring pages and JSON API, authenticated by API tokens.

use crate::cli::{GlobalArgs, ServeArgs};
use crate::commands::tokens::StoreTokens;
use crate::db;
use crate::error::{CliError, CliResult};
use operation_runs_http::{Monitoring, TokenAuthenticator, sign_in_router};
use operation_runs_schedule_history::{ScheduleHistory, SchedulePorts};
use std::io::Write as _;
use std::sync::Arc;

/// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
pub async fn run(global: &GlobalArgs, args: &ServeArgs) -> CliResult {
    let app = db::open_with_types(global).await?;
    let tokens = Arc::new(StoreTokens(app.store.clone()));
    let history = ScheduleHistory::new(
        app.service.clone(),
        SchedulePorts::from_store(app.store.clone()),
    );
    let monitoring = Monitoring::new(
        app.service.clone(),
        history,
        TokenAuthenticator::new(tokens.clone()),
    )
    .sign_in_url("/sign-in");
    let router = monitoring.router().merge(sign_in_router(tokens));

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::error(format!("cannot listen on {}: {e}", args.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| CliError::error(format!("cannot read the listening address: {e}")))?;
    println!("listening on http://{address}");
    let _ = std::io::stdout().flush();
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| CliError::error(format!("the server failed: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
