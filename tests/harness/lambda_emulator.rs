//! A Lambda Runtime API emulator: starts a function binary as Lambda does and feeds it events.
