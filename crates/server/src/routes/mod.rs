pub mod api;
pub mod events;
pub mod health;
pub mod uploads;
pub mod webhooks;
