//! Fake Linear (in progress).
