//! Arm semihosting (AArch64: `HLT #0xF000`): the one call this firmware makes, exit with a status code. Under
//! QEMU with `-semihosting-config enable=on,target=native` the code becomes QEMU's exit status; on a board it
//! reaches an attached debugger (xsdb), and without one the `HLT` traps and the core parks in the vector table.

/// `SYS_EXIT`.
const SYS_EXIT: u64 = 0x18;
/// `ADP_Stopped_ApplicationExit`: a normal exit, with the status in the second word.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;

/// Ends the program with `code` (0 = success).
pub fn exit(code: u32) -> ! {
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, u64::from(code)];
    // Safety: the semihosting call reads the two words of `block`, which lives until after the call; it
    // writes only x0. Without a semihosting host the HLT traps to the parking vectors and never returns.
    unsafe {
        core::arch::asm!("hlt #0xf000", inout("x0") SYS_EXIT => _, in("x1") block.as_ptr(), options(nostack));
    }
    loop {
        core::hint::spin_loop();
    }
}
