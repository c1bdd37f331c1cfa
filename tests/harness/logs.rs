//! Capturing everything the code logs (at TRACE) during a test, to search it for secrets.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::Dispatch;
use tracing::subscriber::DefaultGuard;

/// Where captured log lines go.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Logs captured while this value lives (on this thread: use a current-thread runtime).
pub struct LogCapture {
    captured: Captured,
    _guard: DefaultGuard,
    _second: Dispatch,
}

impl LogCapture {
    pub fn start() -> Self {
        // With a single dispatcher registered, tracing caches whether a callsite is enabled from
        // whichever thread reaches it first: a line first logged by another test (no subscriber)
        // would stay off here. A second live dispatcher makes it ask every dispatcher.
        let second = Dispatch::new(tracing::subscriber::NoSubscriber::default());
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            // Plain text, so tests can search for `field="value"`.
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        Self {
            captured,
            _guard: tracing::subscriber::set_default(subscriber),
            _second: second,
        }
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.captured.0.lock().unwrap()).into_owned()
    }
}
