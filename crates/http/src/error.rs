//! Refusals and failures, as JSON on the API and as pages in a browser.

use crate::views;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use operation_runs_schedule_history::ScheduleError;
use operation_runs_service::ServiceError;
use serde::Serialize;
use utoipa::ToSchema;

/// Why a request was refused. Every variant maps to one status; 404 carries no detail at all,
/// so a non-member, a missing run, a run of another workspace and an unknown URL answer alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400: a query value or form field is invalid; the text says which and why.
    BadRequest(String),
    /// 401: nobody signed in.
    Unauthorized,
    /// 403: a member without the capability, or a cross-origin POST.
    Forbidden(&'static str),
    /// 404.
    NotFound,
    /// 409: the run changed state (completed, or another writer came first).
    Conflict(String),
    /// 500: a store failed; the cause is logged, never shown.
    Internal,
}

/// The JSON body of every API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable kind: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict` or `internal`.
    pub error: &'static str,
    /// Human-readable reason.
    pub message: String,
}

impl Refusal {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Internal => "internal",
        }
    }

    pub(crate) fn message(&self) -> String {
        match self {
            Self::BadRequest(reason) | Self::Conflict(reason) => reason.clone(),
            Self::Unauthorized => "sign in to see operations".to_owned(),
            Self::Forbidden(reason) => (*reason).to_owned(),
            Self::NotFound => "not found".to_owned(),
            Self::Internal => "internal error".to_owned(),
        }
    }

    /// The API's answer.
    pub(crate) fn json(&self) -> Response {
        let body = ErrorBody {
            error: self.kind(),
            message: self.message(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, Self::Unauthorized) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }

    /// The pages' answer.
    pub(crate) fn page(&self) -> Response {
        (self.status(), views::error_page(self)).into_response()
    }
}

impl From<ServiceError> for Refusal {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound => Self::NotFound,
            ServiceError::Forbidden => {
                Self::Forbidden("you may not see this workspace's operations")
            }
            ServiceError::Transition(e) => Self::Conflict(e.to_string()),
            ServiceError::Conflict(_) => {
                Self::Conflict("the run changed meanwhile; reload it".to_owned())
            }
            ServiceError::InvalidPageSize { .. } => Self::BadRequest(error.to_string()),
            other => {
                tracing::error!(error = %other, "monitoring read failed");
                Self::Internal
            }
        }
    }
}

impl From<ScheduleError> for Refusal {
    fn from(error: ScheduleError) -> Self {
        match error {
            ScheduleError::NotFound => Self::NotFound,
            ScheduleError::Forbidden => {
                Self::Forbidden("you may not see this workspace's operations")
            }
            ScheduleError::InvalidQuery(reason) => Self::BadRequest(reason),
            ScheduleError::Service(e) => e.into(),
            other => {
                tracing::error!(error = %other, "schedule history read failed");
                Self::Internal
            }
        }
    }
}

/// Defines a refusal as one face answers it: the same [`Refusal`], turned into a response by
/// `$answer`, and reachable by `?` from every error a handler meets.
macro_rules! refusal_face {
    ($(#[$doc:meta])* $face:ident answers by $answer:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub(crate) struct $face(pub(crate) Refusal);

        impl IntoResponse for $face {
            fn into_response(self) -> Response {
                self.0.$answer()
            }
        }

        impl<E: Into<Refusal>> From<E> for $face {
            fn from(error: E) -> Self {
                Self(error.into())
            }
        }
    };
}

refusal_face!(
    /// A refusal on the JSON API.
    ApiRefusal answers by json
);
refusal_face!(
    /// A refusal on a page.
    PageRefusal answers by page
);
