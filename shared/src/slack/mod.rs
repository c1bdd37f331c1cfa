//! Slack: the Web API client that posts and updates review cards and reads user-group
//! membership ([`client`]), verification of the signed interactivity requests Slack sends when a
//! button is clicked ([`signature`]), and parsing of those requests once verified
//! ([`interaction`]). Requests are verified on their exact raw bytes before anything parses them.

pub mod client;
pub mod interaction;
pub mod signature;
