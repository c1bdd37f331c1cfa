//! Fake OpenAI (in progress).
