//! What the CLI's fuzz targets share.

use std::sync::Once;

/// libfuzzer-sys aborts on every panic, caught or not. The converter catches tract's panics on bad graphs
/// and turns them into errors (`convert::fold`), so the targets put the default hook back: a panic caught
/// by the code under test is an error it handled, one that escapes is still a crash (libfuzzer-sys aborts
/// on it).
pub fn caught_panics_are_errors() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
    });
}
