//! The shared core, below the managers and above the platform adapters.
//!
//! The leaf vocabulary every layer speaks ([`error`], [`ids`], [`time`],
//! [`fault`], [`config`], [`log_span`]), the state the managers share through a
//! [`context::Context`] of narrow handles ([`store`], [`events`]), and the
//! in-memory structures each manager builds its records on ([`index`],
//! [`names`]). Nothing here imports a manager or a service.

pub mod config;
pub mod context;
pub mod error;
pub mod events;
pub mod fault;
pub mod fsutil;
pub mod handlers;
pub mod ids;
pub mod index;
pub mod log_span;
pub mod names;
pub mod store;
#[cfg(test)]
pub(crate) mod testbed;
pub mod time;
