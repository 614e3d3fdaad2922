//! Resonanz domain model. Pure types and functions, no I/O, so that every
//! other crate (store, channels, analysis, radar, server) shares one vocabulary.

pub mod analysis;
pub mod clock;
pub mod event;
pub mod ids;
pub mod import;
pub mod inbound;
pub mod model;
pub mod raw;
pub mod rules;
pub mod sla;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use event::DomainEvent;
pub use ids::*;
pub use inbound::*;
pub use model::*;
pub use raw::{RawEvent, Source, Verification};
