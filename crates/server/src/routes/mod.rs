pub mod api;
pub mod health;
pub mod uploads;
pub mod webhooks;
