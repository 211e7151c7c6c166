//! Golden vectors for the accelerator IP's C simulation (`docs/accel-ip.md`, "Golden vectors"): the model
//! descriptor, the task's tables, the weight section and the input pixels the IP reads, and every
//! kernel's output as the fixed-point golden model ([`m3rt::fixed::FixedEngine`]) computes it.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use m3rt::accel::desc;
use m3rt::bundle::Bundle;
use m3rt::fixed::FixedEngine;

/// What [`write`] produced.
#[derive(Clone, Debug)]
pub struct GoldenSummary {
    /// Trace items written.
    pub traces: usize,
    /// Bytes written in all.
    pub bytes: u64,
    /// Experts the run read, all MoE blocks together.
    pub expert_loads: u32,
}

/// The pixels of an f32 input `[3, H, W]` in `bundle`'s profile (the fixed engine's own rule).
pub fn pixels(engine: &FixedEngine<'_, '_>, input: &[f32]) -> Vec<u8> {
    input.iter().map(|&x| engine.pixel(x)).collect()
}

/// A deterministic input image `[3, H, W]` of uniform values in `[0, 1)` from `seed` (xorshift64*).
pub fn seeded_input(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// Runs `task` of the quantized `bundle` on `input` with the fixed-point engine and writes the golden
/// vector directory `dir` (created; files in it are replaced).
pub fn write(bundle: Bundle<'_>, task: u32, input: &[f32], dir: &Path) -> Result<GoldenSummary> {
    let profile =
        bundle.profile().ok_or_else(|| anyhow!("not a quantized bundle: convert with --precision fixed16 or int8"))?;
    let h = *bundle.hyper();
    let mut model = vec![0u32; desc::model_descriptor_words(&h)];
    desc::model_descriptor(&bundle, &profile, &mut model)?;
    let mut gates = vec![0u32; desc::gate_table_words(&h)];
    desc::gate_table(&bundle, task, &mut gates)?;
    let mut head = vec![0u32; desc::head_table_words(&h)];
    desc::head_table(&bundle, task, &mut head)?;
    let weights = bundle.weight_section();

    let mut scratch = vec![0f32; FixedEngine::scratch_words(&bundle)];
    let mut engine = FixedEngine::new(bundle, &mut scratch)?;
    engine.select_task(task)?;
    if input.len() != engine.input_len() {
        bail!("input has {} values, the model takes {}", input.len(), engine.input_len());
    }
    let pixels = pixels(&engine, input);
    let mut output = vec![0i32; engine.output_len()?];
    let mut traces: Vec<(String, Vec<i32>)> = Vec::new();
    engine.run_pixels(&pixels, &mut output, &mut |p: m3rt::fixed::trace::Point, d: &[i32]| {
        traces.push((p.to_string(), d.to_vec()))
    })?;
    let expert_loads = engine.counters().expert_loads.iter().sum();

    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut manifest = String::from("# m3rt golden vectors (docs/accel-ip.md): <kind> <name> <count> <file>\n");
    let mut total = 0u64;
    let mut put = |kind: &str, name: &str, count: usize, file: String, bytes: &[u8]| -> Result<()> {
        let path = dir.join(&file);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        total += bytes.len() as u64;
        let _ = writeln!(manifest, "{kind} {name} {count} {file}");
        Ok(())
    };
    let words = |w: &[u32]| w.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    let ints = |w: &[i32]| w.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    put("model", "model", model.len(), "model.bin".into(), &words(&model))?;
    put("gates", "gates", gates.len(), "gates.bin".into(), &words(&gates))?;
    put("head", "head", head.len(), "head.bin".into(), &words(&head))?;
    put("weights", "weights", weights.len(), "weights.bin".into(), weights)?;
    put("input", "input", pixels.len(), "input.bin".into(), &pixels)?;
    for (i, (name, data)) in traces.iter().enumerate() {
        put("trace", name, data.len(), format!("trace_{i:03}_{name}.bin"), &ints(data))?;
    }
    put("output", "output", output.len(), "output.bin".into(), &ints(&output))?;
    let mpath = dir.join("manifest.txt");
    std::fs::write(&mpath, manifest).with_context(|| format!("writing {}", mpath.display()))?;
    Ok(GoldenSummary { traces: traces.len(), bytes: total, expert_loads })
}
