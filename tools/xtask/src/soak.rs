//! `cargo xtask soak [--reduced]`: the long reliability runs on the host board (issue 13).
//!
//! - The power-cut test (`tools/cli/tests/board/power_cut.rs`): an upload cut at every chunk boundary
//!   (`M3RT_SOAK_FULL=1`) and after each of the commit's file operations, the board restarted on its slot
//!   files each time.
//! - The soak (`tools/cli/tests/board/soak.rs`): 10,000 task switches with an inference every tenth, 1 % of
//!   the frames corrupted each way, every answer checked against the host runtime, the board process's RSS
//!   the same at the end.
//!
//! `--reduced` (the stage of `cargo xtask ci`) runs only the soak, at 1,000 switches: `cargo test` already
//! runs the power-cut test at its sample of cut points.

use anyhow::Result;

use crate::steps;

/// Switches of the full soak (the count).
pub const FULL_SWITCHES: u32 = 10_000;

/// Switches of the reduced soak CI runs.
pub const REDUCED_SWITCHES: u32 = 1_000;

/// The command's arguments after `soak`.
pub fn run(args: &[String]) -> Result<()> {
    let reduced = args.iter().any(|a| a == "--reduced");
    if !reduced {
        steps::timed("power cut at every chunk boundary and commit operation", || {
            steps::cargo(
                &["test", "--workspace", "--test", "board", "power_cut", "--", "--nocapture"],
                &[("M3RT_SOAK_FULL", "1")],
            )
        })?;
    }
    let switches = if reduced { REDUCED_SWITCHES } else { FULL_SWITCHES };
    let count = switches.to_string();
    steps::timed(&format!("soak: {switches} switches, 1 % corrupted frames"), || {
        steps::cargo(
            &["test", "--workspace", "--test", "board", "soak::", "--", "--ignored", "--nocapture"],
            &[("M3RT_SOAK_SWITCHES", count.as_str())],
        )
    })
}
