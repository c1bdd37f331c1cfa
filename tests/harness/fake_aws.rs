//! A fake of the two AWS APIs the functions call (Secrets Manager, EventBridge), for runs of the real binaries.
