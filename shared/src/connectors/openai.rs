//! OpenAI connector (in progress).
