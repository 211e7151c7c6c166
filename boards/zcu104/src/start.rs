//! Start-up code, run by every core at the entry point before any Rust code:
//!
//! 1. cores 1–3 park in a `wfe` loop; core 0 goes on;
//! 2. from EL3 or EL2 (a real board's FSBL may hand over at EL3), drop to EL1 with FP/SIMD traps off;
//! 3. enable FP/SIMD for EL1 (`CPACR_EL1.FPEN`): the compiler uses NEON registers everywhere;
//! 4. set the stack, install a vector table that parks on any exception;
//! 5. identity-map the low 4 GiB with 1 GiB blocks (DDR normal write-back, the rest device memory) and turn on
//!    the MMU and caches: with the MMU off every access is device memory, uncached and alignment-checked;
//! 6. zero `.bss`, then call `m3rt_main(entry_el)`.

core::arch::global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    mrs     x1, mpidr_el1
    and     x1, x1, #0xff
    cbnz    x1, 9f
    mrs     x19, CurrentEL
    lsr     x19, x19, #2
    cmp     x19, #3
    b.eq    3f
    cmp     x19, #2
    b.eq    2f
    b       1f

3:  // EL3: lower levels run AArch64 (RW) and secure; no FP traps at EL3; return to EL1h, interrupts masked.
    mov     x0, #0x430
    msr     scr_el3, x0
    msr     cptr_el3, xzr
    mov     x0, #0x3c5
    msr     spsr_el3, x0
    adr     x0, 1f
    msr     elr_el3, x0
    eret

2:  // EL2: EL1 runs AArch64 (HCR_EL2.RW); no FP traps at EL2; return to EL1h, interrupts masked.
    mov     x0, #(1 << 31)
    msr     hcr_el2, x0
    mov     x0, #0x33ff
    msr     cptr_el2, x0
    mov     x0, #0x3c5
    msr     spsr_el2, x0
    adr     x0, 1f
    msr     elr_el2, x0
    eret

1:  // EL1.
    mov     x0, #(3 << 20)
    msr     cpacr_el1, x0
    isb
    adrp    x0, __stack_top
    add     x0, x0, :lo12:__stack_top
    mov     sp, x0
    adrp    x0, m3rt_vectors
    add     x0, x0, :lo12:m3rt_vectors
    msr     vbar_el1, x0

    // MMU: MAIR attr0 = normal write-back, attr1 = device nGnRnE; TCR: 4 KiB granule, 32-bit VA (T0SZ = 32,
    // walks start at level 1), inner-shareable write-back walks, TTBR1 walks off (EPD1).
    mov     x0, #0xff
    msr     mair_el1, x0
    ldr     x0, =0x803520
    msr     tcr_el1, x0
    adrp    x0, m3rt_l1_table
    add     x0, x0, :lo12:m3rt_l1_table
    msr     ttbr0_el1, x0
    isb
    tlbi    vmalle1
    dsb     ish
    isb
    mrs     x0, sctlr_el1
    mov     x1, #((1 << 0) | (1 << 2) | (1 << 12))
    orr     x0, x0, x1
    bic     x0, x0, #(1 << 1)
    msr     sctlr_el1, x0
    isb

    adrp    x0, __bss_start
    add     x0, x0, :lo12:__bss_start
    adrp    x1, __bss_end
    add     x1, x1, :lo12:__bss_end
5:  cmp     x0, x1
    b.hs    6f
    stp     xzr, xzr, [x0], #16
    b       5b
6:  mov     x0, x19
    bl      m3rt_main
9:  wfe
    b       9b

    // Exceptions are not expected: every vector parks the core (a debugger can read ELR_EL1 / ESR_EL1).
    .balign 2048
m3rt_vectors:
    .rept 16
    .balign 128
    b       9b
    .endr

    .section .rodata.m3rt_l1_table, "a"
    .balign 4096
m3rt_l1_table:
    .quad 0x0000000000000701    // 0-1 GiB: DDR, normal write-back, inner shareable, accessed
    .quad 0x0000000040000701    // 1-2 GiB: DDR
    .quad 0x0060000080000405    // 2-3 GiB: PL slaves, device nGnRnE, execute-never
    .quad 0x00600000c0000405    // 3-4 GiB: QSPI, PCIe, peripherals (UART0 at 0xff000000), device
"#
);
