#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod drift;
mod error;
mod monitoring;
mod reaper;
mod request;
mod service;

pub use error::{DriftRefusal, ServiceError};
pub use monitoring::STATUS_COUNT_CAP;
pub use request::{DriftChange, ReapReport, StartRequest, Started};
pub use service::{MAX_PAGE_SIZE, OperationRunService, ServicePorts};
