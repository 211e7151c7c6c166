//! The IP's control registers (the AXI4-Lite slave `control`) and the top function's arguments, as data
//! (`docs/accel-ip.md`, "Top function and registers").
//!
//! [`REGISTERS`] is the one list: the offset constants ([`CTRL`], [`MODEL_LO`], [`STATUS_CTRL`], ...) are
//! looked up in it at compile time, [`BITS`] gives the bit masks, and `hls/include/m3rt_regs.h` (with the
//! interface pragmas of [`ARGS`]) is generated from all three.

/// What a register group of the control interface is, and so which words it spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One word of the block-level protocol (`ap_ctrl_hs`) and its interrupt controls, at 0x00..=0x0C.
    Block,
    /// A 64-bit byte address written by the host: low word at the offset, high word 4 bytes above, then a
    /// reserved word.
    Pointer,
    /// A 32-bit scalar written by the host, then a reserved word.
    ScalarIn,
    /// A 32-bit scalar the IP writes, then its control word (bit 0 `ap_vld`, clear on read).
    ScalarOut,
}

impl Kind {
    /// The bytes a group of this kind needs: its data words and one more (the control word of an output,
    /// a reserved word otherwise), the rule of Vitis HLS's `s_axilite offset=` option. A block word is alone.
    pub const fn span(self) -> u32 {
        match self {
            Kind::Block => 4,
            Kind::Pointer => 12,
            Kind::ScalarIn | Kind::ScalarOut => 8,
        }
    }
}

/// One register group: a name, its first byte offset, its kind and what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Register {
    /// `CTRL`, `GIE`, `IER`, `ISR` for the block protocol; else the top function's argument name.
    pub name: &'static str,
    /// Byte offset of the first (or only, or low) word.
    pub offset: u32,
    /// What it is.
    pub kind: Kind,
    /// How the host accesses it, as the doc writes it (`R/W`, `R/TOW`: toggle on write, `W`, `R`).
    pub access: &'static str,
    /// What it means (one line).
    pub doc: &'static str,
}

/// Bytes between a pointer's low and high words, and between an output's data and control words.
pub const SECOND_WORD: u32 = 4;

impl Register {
    /// The high word of a pointer.
    pub const fn hi(&self) -> Option<u32> {
        match self.kind {
            Kind::Pointer => Some(self.offset + SECOND_WORD),
            _ => None,
        }
    }

    /// The control word (`ap_vld`) of an output scalar.
    pub const fn ctrl(&self) -> Option<u32> {
        match self.kind {
            Kind::ScalarOut => Some(self.offset + SECOND_WORD),
            _ => None,
        }
    }

    /// The first byte past the group (its offset plus [`Kind::span`]).
    pub const fn end(&self) -> u32 {
        self.offset + self.kind.span()
    }
}

const fn reg(name: &'static str, offset: u32, kind: Kind, doc: &'static str) -> Register {
    let access = match kind {
        Kind::Block => "R/W",
        Kind::Pointer | Kind::ScalarIn => "W",
        Kind::ScalarOut => "R",
    };
    Register { name, offset, kind, access, doc }
}

/// Every register group of the control interface, in increasing offset order.
pub const REGISTERS: [Register; 16] = [
    reg("CTRL", 0x00, Kind::Block, "control signals: ap_start, ap_done, ap_idle, ap_ready, auto_restart"),
    reg("GIE", 0x04, Kind::Block, "global interrupt enable"),
    reg("IER", 0x08, Kind::Block, "IP interrupt enable: ap_done, ap_ready"),
    Register { access: "R/TOW", ..reg("ISR", 0x0C, Kind::Block, "IP interrupt status: same bits, toggle on write") },
    reg("model", 0x10, Kind::Pointer, "model descriptor address"),
    reg("gates", 0x1C, Kind::Pointer, "the selected task's gate table address"),
    reg("head", 0x28, Kind::Pointer, "the selected task's head table address"),
    reg("wq16", 0x34, Kind::Pointer, "weight section address"),
    reg("wq8", 0x40, Kind::Pointer, "weight section address (same value)"),
    reg("input", 0x4C, Kind::Pointer, "input pixels [3, H, W] u8"),
    reg("output", 0x58, Kind::Pointer, "output [C, H, W] i32 raw activations"),
    reg("work", 0x64, Kind::Pointer, "working memory, i32 words"),
    reg("work_words", 0x70, Kind::ScalarIn, "words available at work"),
    reg("status", 0x78, Kind::ScalarOut, "0 = ok, else an error code (Status)"),
    reg("expert_loads", 0x88, Kind::ScalarOut, "experts whose weights were fetched in the last run"),
    reg("weight_kib", 0x98, Kind::ScalarOut, "KiB of weights fetched in the last run (rounded up)"),
];

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The register group called `name`, if there is one.
pub const fn find(name: &str) -> Option<Register> {
    let mut i = 0;
    while i < REGISTERS.len() {
        if str_eq(REGISTERS[i].name, name) {
            return Some(REGISTERS[i]);
        }
        i += 1;
    }
    None
}

/// The offset of `name`, for the constants below: evaluated at compile time, so a missing name fails the
/// build, never a run.
const fn at(name: &str) -> u32 {
    match find(name) {
        Some(r) => r.offset,
        None => panic!("no such register"),
    }
}

/// Control signals (`ap_start`, `ap_done`, `ap_idle`, `ap_ready`, `auto_restart`).
pub const CTRL: u32 = at("CTRL");
/// Global interrupt enable.
pub const GIE: u32 = at("GIE");
/// IP interrupt enable.
pub const IER: u32 = at("IER");
/// IP interrupt status (toggle on write).
pub const ISR: u32 = at("ISR");
/// Model descriptor address, low word.
pub const MODEL_LO: u32 = at("model");
/// Model descriptor address, high word.
pub const MODEL_HI: u32 = MODEL_LO + SECOND_WORD;
/// Gate table address, low word.
pub const GATES_LO: u32 = at("gates");
/// Gate table address, high word.
pub const GATES_HI: u32 = GATES_LO + SECOND_WORD;
/// Head table address, low word.
pub const HEAD_LO: u32 = at("head");
/// Head table address, high word.
pub const HEAD_HI: u32 = HEAD_LO + SECOND_WORD;
/// Weight section address read as 16-bit elements, low word.
pub const WQ16_LO: u32 = at("wq16");
/// Weight section address read as 16-bit elements, high word.
pub const WQ16_HI: u32 = WQ16_LO + SECOND_WORD;
/// Weight section address read as 8-bit elements, low word.
pub const WQ8_LO: u32 = at("wq8");
/// Weight section address read as 8-bit elements, high word.
pub const WQ8_HI: u32 = WQ8_LO + SECOND_WORD;
/// Input pixels address, low word.
pub const INPUT_LO: u32 = at("input");
/// Input pixels address, high word.
pub const INPUT_HI: u32 = INPUT_LO + SECOND_WORD;
/// Output map address, low word.
pub const OUTPUT_LO: u32 = at("output");
/// Output map address, high word.
pub const OUTPUT_HI: u32 = OUTPUT_LO + SECOND_WORD;
/// Working memory address, low word.
pub const WORK_LO: u32 = at("work");
/// Working memory address, high word.
pub const WORK_HI: u32 = WORK_LO + SECOND_WORD;
/// Words available at the working memory.
pub const WORK_WORDS: u32 = at("work_words");
/// The run's status code ([`super::Status`]).
pub const STATUS: u32 = at("status");
/// `ap_vld` of [`STATUS`].
pub const STATUS_CTRL: u32 = STATUS + SECOND_WORD;
/// Experts whose weights were fetched in the last run.
pub const EXPERT_LOADS: u32 = at("expert_loads");
/// `ap_vld` of [`EXPERT_LOADS`].
pub const EXPERT_LOADS_CTRL: u32 = EXPERT_LOADS + SECOND_WORD;
/// KiB of weights fetched in the last run.
pub const WEIGHT_KIB: u32 = at("weight_kib");
/// `ap_vld` of [`WEIGHT_KIB`].
pub const WEIGHT_KIB_CTRL: u32 = WEIGHT_KIB + SECOND_WORD;

/// One named bit of a control word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bit {
    /// Which words it is in: `CTRL`, `GIE`, `IRQ` (both `IER` and `ISR`) or `OUT` (every output's control
    /// word).
    pub group: &'static str,
    /// Its name, upper case.
    pub name: &'static str,
    /// Its position.
    pub bit: u32,
    /// What it means.
    pub doc: &'static str,
}

impl Bit {
    /// `1 << bit`.
    pub const fn mask(&self) -> u32 {
        1 << self.bit
    }
}

const fn bit(group: &'static str, name: &'static str, bit: u32, doc: &'static str) -> Bit {
    Bit { group, name, bit, doc }
}

/// Every named bit of the control words.
pub const BITS: [Bit; 9] = [
    bit("CTRL", "AP_START", 0, "write 1 to start a run; the IP clears it"),
    bit("CTRL", "AP_DONE", 1, "the run finished (clear on read)"),
    bit("CTRL", "AP_IDLE", 2, "the IP is idle"),
    bit("CTRL", "AP_READY", 3, "the IP accepts new inputs"),
    bit("CTRL", "AUTO_RESTART", 7, "start again as soon as a run finishes"),
    bit("GIE", "ENABLE", 0, "global interrupt enable"),
    bit("IRQ", "AP_DONE", 0, "IER/ISR: the ap_done interrupt"),
    bit("IRQ", "AP_READY", 1, "IER/ISR: the ap_ready interrupt"),
    bit("OUT", "AP_VLD", 0, "an output's control word: the data word holds a new value (clear on read)"),
];

const fn mask(group: &str, name: &str) -> u32 {
    let mut i = 0;
    while i < BITS.len() {
        if str_eq(BITS[i].group, group) && str_eq(BITS[i].name, name) {
            return BITS[i].mask();
        }
        i += 1;
    }
    panic!("no such bit")
}

/// [`CTRL`]: write 1 to start a run; the IP clears it.
pub const CTRL_AP_START: u32 = mask("CTRL", "AP_START");
/// [`CTRL`]: the run finished (clear on read).
pub const CTRL_AP_DONE: u32 = mask("CTRL", "AP_DONE");
/// [`CTRL`]: the IP is idle.
pub const CTRL_AP_IDLE: u32 = mask("CTRL", "AP_IDLE");
/// [`CTRL`]: the IP accepts new inputs.
pub const CTRL_AP_READY: u32 = mask("CTRL", "AP_READY");
/// [`CTRL`]: start again as soon as a run finishes.
pub const CTRL_AUTO_RESTART: u32 = mask("CTRL", "AUTO_RESTART");
/// [`GIE`]: global interrupt enable.
pub const GIE_ENABLE: u32 = mask("GIE", "ENABLE");
/// [`IER`] and [`ISR`]: the `ap_done` interrupt.
pub const IRQ_AP_DONE: u32 = mask("IRQ", "AP_DONE");
/// [`IER`] and [`ISR`]: the `ap_ready` interrupt.
pub const IRQ_AP_READY: u32 = mask("IRQ", "AP_READY");
/// An output's control word ([`STATUS_CTRL`], ...): the data word holds a new value.
pub const OUT_AP_VLD: u32 = mask("OUT", "AP_VLD");

/// The AXI4 master a pointer argument reads or writes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gmem {
    /// The weights (`wq16`, `wq8`).
    Gmem0,
    /// Everything else.
    Gmem1,
}

impl Gmem {
    /// The bundle name in the pragmas.
    pub const fn name(self) -> &'static str {
        match self {
            Gmem::Gmem0 => "gmem0",
            Gmem::Gmem1 => "gmem1",
        }
    }
}

/// How an argument of the top function reaches the IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// A pointer into DDR read or written through an AXI4 master (`m_axi`, `offset=slave`: its address is
    /// a [`Kind::Pointer`] register).
    MAxi {
        /// The master it goes through.
        bundle: Gmem,
        /// The C macro giving its `depth` in elements, which only RTL co-simulation reads
        /// (`hls/include/m3rt_config.h` defines them).
        depth: &'static str,
    },
    /// A scalar in the `control` slave (`s_axilite`), in or out.
    SAxiLite,
}

/// One argument of the top function `m3rt_accel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arg {
    /// Its name (also its register's name in [`REGISTERS`]).
    pub name: &'static str,
    /// Its C type.
    pub c_type: &'static str,
    /// How it reaches the IP.
    pub port: Port,
}

impl Arg {
    /// The argument's register group.
    pub const fn register(&self) -> Option<Register> {
        find(self.name)
    }
}

/// The top function's name.
pub const TOP: &str = "m3rt_accel";
/// The AXI4-Lite slave every argument and the block protocol live in.
pub const CONTROL_BUNDLE: &str = "control";
/// The width, in bits, the AXI4 masters widen their accesses to (`max_widen_bitwidth`).
pub const MAXI_WIDTH: u32 = 256;

const fn arg(name: &'static str, c_type: &'static str, port: Port) -> Arg {
    Arg { name, c_type, port }
}

const fn maxi(bundle: Gmem, depth: &'static str) -> Port {
    Port::MAxi { bundle, depth }
}

/// The top function's arguments, in order.
pub const ARGS: [Arg; 12] = [
    arg("model", "const uint32_t *", maxi(Gmem::Gmem1, "M3RT_COSIM_DESC_DEPTH")),
    arg("gates", "const uint32_t *", maxi(Gmem::Gmem1, "M3RT_COSIM_GATES_DEPTH")),
    arg("head", "const uint32_t *", maxi(Gmem::Gmem1, "M3RT_COSIM_HEAD_DEPTH")),
    arg("wq16", "const int16_t *", maxi(Gmem::Gmem0, "M3RT_COSIM_WEIGHT_DEPTH")),
    arg("wq8", "const int8_t *", maxi(Gmem::Gmem0, "M3RT_COSIM_WEIGHT_DEPTH")),
    arg("input", "const uint8_t *", maxi(Gmem::Gmem1, "M3RT_COSIM_INPUT_DEPTH")),
    arg("output", "int32_t *", maxi(Gmem::Gmem1, "M3RT_COSIM_OUTPUT_DEPTH")),
    arg("work", "int32_t *", maxi(Gmem::Gmem1, "M3RT_COSIM_WORK_DEPTH")),
    arg("work_words", "uint32_t", Port::SAxiLite),
    arg("status", "uint32_t *", Port::SAxiLite),
    arg("expert_loads", "uint32_t *", Port::SAxiLite),
    arg("weight_kib", "uint32_t *", Port::SAxiLite),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_consistent() {
        // Block protocol exactly at 0x00..=0x0C, in the order of Vitis HLS's map.
        let block: [&str; 4] = ["CTRL", "GIE", "IER", "ISR"];
        for (i, name) in block.iter().enumerate() {
            let r = REGISTERS[i];
            assert_eq!((r.name, r.offset, r.kind), (*name, 4 * i as u32, Kind::Block));
        }
        for pair in REGISTERS.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(a.end() <= b.offset, "{} (ends at {:#x}) overlaps {} ({:#x})", a.name, a.end(), b.name, b.offset);
        }
        for r in REGISTERS {
            assert_eq!(r.offset % 4, 0, "{} is not 4-byte aligned", r.name);
            assert_eq!(find(r.name), Some(r), "{} is not unique", r.name);
            assert!(r.end() <= 0x1000, "{} is past the 4 KiB control space", r.name);
        }
        // The pointers follow the block protocol at 12-byte strides (low, high, reserved), then work_words.
        let pointers: [Register; 8] = core::array::from_fn(|i| REGISTERS[4 + i]);
        for (i, p) in pointers.iter().enumerate() {
            assert_eq!((p.kind, p.offset), (Kind::Pointer, 0x10 + 12 * i as u32), "{}", p.name);
        }
        assert_eq!(REGISTERS[12].offset, pointers[7].end());
        // The doc's values, spot-checked through the derived constants.
        assert_eq!((MODEL_LO, MODEL_HI, GATES_LO, HEAD_HI, WORK_HI), (0x10, 0x14, 0x1C, 0x2C, 0x68));
        assert_eq!(
            (WORK_WORDS, STATUS, STATUS_CTRL, EXPERT_LOADS_CTRL, WEIGHT_KIB_CTRL),
            (0x70, 0x78, 0x7C, 0x8C, 0x9C)
        );
        assert_eq!((CTRL_AP_START, CTRL_AP_DONE, CTRL_AP_IDLE, CTRL_AP_READY, CTRL_AUTO_RESTART), (1, 2, 4, 8, 0x80));
        assert_eq!((GIE_ENABLE, IRQ_AP_DONE, IRQ_AP_READY, OUT_AP_VLD), (1, 1, 2, 1));
    }

    #[test]
    fn every_argument_has_its_register() {
        // Arguments and non-block registers correspond one to one, in order, with matching kinds.
        let regs = REGISTERS.iter().filter(|r| r.kind != Kind::Block);
        assert_eq!(regs.clone().count(), ARGS.len());
        for (a, r) in ARGS.iter().zip(regs) {
            assert_eq!(a.register(), Some(*r));
            let expected = match a.port {
                Port::MAxi { .. } => Kind::Pointer,
                Port::SAxiLite if a.c_type.ends_with('*') => Kind::ScalarOut,
                Port::SAxiLite => Kind::ScalarIn,
            };
            assert_eq!(r.kind, expected, "{}", a.name);
            let weights = matches!(a.name, "wq16" | "wq8");
            assert_eq!(matches!(a.port, Port::MAxi { bundle: Gmem::Gmem0, .. }), weights, "{}", a.name);
        }
        let mut bits = BITS.iter();
        assert!(bits.all(|b| b.bit < 32));
        assert_eq!(find("nope"), None);
    }
}
