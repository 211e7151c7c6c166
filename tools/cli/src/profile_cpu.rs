//! `m3rt profile --board cpu`: the CPU fallback profiled. Per stage (patch embedding, every block, the head)
//! the time MEASURED on this host (the f32 engine, one thread, medians over `--repeat` runs, each stage timed
//! as it finishes, the engine's own `run_releasing` points), and for the boards' CPUs a stated ESTIMATE: the
//! stage's multiply-accumulates at the core's peak f32 MAC rate, a lower bound on its time (no board here).

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{anyhow, Result};
use m3rt::backend::{Backend, CpuBackend};
use m3rt::bundle::Bundle;
use m3rt_sim::report::simulate;
use m3rt_sim::Design;

/// A CPU the estimate is made for: its name, clock and peak f32 MACs per cycle.
struct Core {
    name: &'static str,
    mhz: f64,
    macs_per_cycle: f64,
    why: &'static str,
}

/// The boards' cores. Peak rates from the cores' documented datapaths; real kernels reach less.
const CORES: [Core; 2] = [
    Core {
        name: "Cortex-A53 (ZCU104 PS)",
        mhz: 1200.0,
        macs_per_cycle: 2.0,
        why: "NEON's 64-bit datapath: a 128-bit f32 FMA issues over two cycles (ARM Cortex-A53 TRM)",
    },
    Core {
        name: "Cortex-M4F",
        mhz: 168.0,
        macs_per_cycle: 1.0,
        why: "one single-precision VFMA issued per cycle at best (Cortex-M4 TRM), at a typical 168 MHz",
    },
];

/// Multiply-accumulates per stage (`embed`, `b0`.., `head`) of the model: the simulator's per-layer count,
/// which follows the model's operators (direct convolutions in the head) and does not depend on the
/// routing (every token runs k experts), so an even routing stands for any.
fn stage_macs(bundle: &Bundle<'_>, task: u32) -> Result<Vec<(String, u64)>> {
    let h = bundle.hyper();
    let channels = bundle.task(task).map_err(|e| anyhow!("{e}"))?.out_channels;
    let (t, e, k) = (h.tokens(), h.experts.max(1), h.top_k);
    let even: Vec<u32> = (0..e).map(|i| (t * k) / e + u32::from(i < (t * k) % e)).collect();
    let queues = vec![even; h.moe_count() as usize];
    let report = simulate(&Design::zcu104(), h, channels, &queues).map_err(|e| anyhow!("{e}"))?;
    let mut stages: Vec<(String, u64)> = Vec::new();
    for l in &report.layers {
        let name = if l.name.starts_with("head") { "head".to_string() } else { l.name.clone() };
        let macs = l.cost.linear_macs + l.cost.attention_macs;
        match stages.last_mut() {
            Some((n, m)) if *n == name => *m += macs,
            _ => stages.push((name, macs)),
        }
    }
    Ok(stages)
}

/// Profiles task `task` of the f32/f16 bundle `bundle` on `input`, `repeat` timed runs after one warm-up.
pub fn profile(bundle: Bundle<'_>, task: u32, input: &[f32], repeat: usize) -> Result<String> {
    if bundle.profile().is_some() {
        return Err(anyhow!("--board cpu profiles the f32 engine: give an f32 or f16 bundle (m3rt convert)"));
    }
    let macs = stage_macs(&bundle, task)?;
    let mut scratch = vec![0f32; CpuBackend::new(&mut []).scratch_words(&bundle)];
    let mut backend = CpuBackend::new(&mut scratch);
    let mut model = backend.load(bundle).map_err(|e| anyhow!("loading on the CPU: {e}"))?;
    model.select_task(task).map_err(|e| anyhow!("{e}"))?;
    let mut output = vec![0f32; model.output_len().map_err(|e| anyhow!("{e}"))?];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); macs.len()];
    for run in 0..=repeat.max(1) {
        let mut marks = Vec::with_capacity(macs.len());
        let start = Instant::now();
        model
            .run_releasing(input, &mut output, &mut |_| marks.push(start.elapsed().as_secs_f64()))
            .map_err(|e| anyhow!("{e}"))?;
        if run == 0 || marks.len() != macs.len() {
            continue; // the warm-up
        }
        let mut last = 0.0;
        for (t, m) in times.iter_mut().zip(&marks) {
            t.push(m - last);
            last = *m;
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let host: Vec<f64> = times.iter_mut().map(median).collect();
    let mut s = format!(
        "CPU fallback: MEASURED on this host (f32 engine, 1 thread, median of {} runs); ESTIMATED lower bounds for the boards' cores\n",
        repeat.max(1)
    );
    let _ = write!(s, "{:<8} {:>10} {:>11} {:>10}", "stage", "MMAC", "host ms", "GMAC/s");
    for c in &CORES {
        let _ = write!(s, " {:>14}", format!("{} ms", c.name.split(' ').next().unwrap_or(c.name)));
    }
    s.push('\n');
    let mut total = (0u64, 0.0);
    for ((name, m), t) in macs.iter().zip(&host) {
        total = (total.0 + m, total.1 + t);
        let _ =
            write!(s, "{name:<8} {:>10.2} {:>11.3} {:>10.2}", *m as f64 / 1e6, t * 1e3, *m as f64 / t.max(1e-12) / 1e9);
        for c in &CORES {
            let _ = write!(s, " {:>14.2}", *m as f64 / (c.mhz * 1e6 * c.macs_per_cycle) * 1e3);
        }
        s.push('\n');
    }
    let _ = write!(
        s,
        "{:<8} {:>10.2} {:>11.3} {:>10.2}",
        "total",
        total.0 as f64 / 1e6,
        total.1 * 1e3,
        total.0 as f64 / total.1.max(1e-12) / 1e9
    );
    for c in &CORES {
        let _ = write!(s, " {:>14.2}", total.0 as f64 / (c.mhz * 1e6 * c.macs_per_cycle) * 1e3);
    }
    s.push('\n');
    for c in &CORES {
        let _ =
            writeln!(s, "  {}: {} MHz x {} f32 MAC/cycle peak: {} [estimate]", c.name, c.mhz, c.macs_per_cycle, c.why);
    }
    s.push_str(
        "  MACs count direct convolutions in the head; the engine's Winograd kernels do fewer multiplies there.\n",
    );
    Ok(s)
}
