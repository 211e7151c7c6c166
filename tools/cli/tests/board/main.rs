//! The board link: the firmware command loop on the host driven by the `m3rt board` client (one test binary
//! for all of it, to keep CI's link time down).

#[path = "../common/mod.rs"]
mod common;

mod accel_serve;
mod command_loop;
mod killed_process;
mod power_cut;
mod serial_device;
mod sim_board;
mod soak;
