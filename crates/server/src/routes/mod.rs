pub mod api;
pub mod compose;
pub mod events;
pub mod health;
pub mod send;
pub mod uploads;
pub mod webhooks;
pub mod workflow;
