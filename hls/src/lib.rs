#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

#[cfg(not(m3rt_csim_skipped))]
pub mod ap_check;
pub mod csim_bus;
#[cfg(not(m3rt_csim_skipped))]
pub mod kernel_check;

/// The `ap_types` include folder the C simulation was built against; `None` when it was skipped.
pub const AP_TYPES_DIR: Option<&str> = option_env!("M3RT_HLS_AP_TYPES_DIR");

/// Why the C simulation was not built (its headers were not found); `None` when it was.
pub const CSIM_SKIPPED: Option<&str> = option_env!("M3RT_HLS_CSIM_SKIPPED");

/// Whether this run requires the C simulation (`M3RT_REQUIRE_CSIM=1`, as in CI): a test that finds it
/// skipped must fail instead of passing with a note.
pub fn csim_required() -> bool {
    std::env::var("M3RT_REQUIRE_CSIM").is_ok_and(|v| v == "1")
}

/// For a test that needs the C simulation: `true` when it was built; otherwise prints why the test is skipped
/// and returns `false`, or panics with that reason under `M3RT_REQUIRE_CSIM=1`.
///
/// The note goes straight to the standard error stream, past the test harness's capture, so that a passing
/// run shows it too.
pub fn csim_available(test: &str) -> bool {
    use std::io::Write;
    match CSIM_SKIPPED {
        None => true,
        Some(why) if csim_required() => panic!("{test}: M3RT_REQUIRE_CSIM=1 but the C simulation was not built: {why}"),
        Some(why) => {
            let _ = writeln!(std::io::stderr(), "{test}: skipped, the C simulation was not built: {why}");
            false
        }
    }
}
