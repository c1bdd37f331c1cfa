//! The stale-consumer rotation chaser (in progress): consumers still on a retired key past
//! their deadline, bucketed by lateness, nudged per owning team in a tone that hardens.

pub mod bucket;
pub mod consumer;
pub mod message;
