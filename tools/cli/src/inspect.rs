//! `m3rt inspect`: a human-readable report of a bundle's structure, tasks, parameter counts, section sizes,
//! scratch size, the profile of a quantized bundle and every tensor's type.

use std::fmt::Write as _;

use anyhow::{anyhow, Result};
use m3rt::bundle::{AlignedBytes, Bundle, Dtype, Preamble, TensorData};
use m3rt::fixed::{Format, Profile, ValueClass, WeightMode};
use m3rt::model::{HeadKind, TensorKey, TensorKind};

/// The sections a bundle's weights are reported in.
const SECTIONS: [&str; 6] = ["embedding", "attention + LayerNorms", "dense MLP", "experts", "gates", "heads"];

fn section(kind: TensorKind) -> usize {
    use TensorKind::*;
    match kind {
        PatchW | PatchB | ClsToken | PosEmbed => 0,
        Ln1G | Ln1B | QkvW | QkvB | ProjW | ProjB | Ln2G | Ln2B => 1,
        Fc1W | Fc1B | Fc2W | Fc2B => 2,
        ExpW1 | ExpB1 | ExpW2 | ExpB2 => 3,
        Gate => 4,
        HeadLnG | HeadLnB | HeadConvW | HeadConvB => 5,
    }
}

/// A tensor's name for people: `PatchW`, `block 2 QkvW`, `semseg gate of block 1`, `depth HeadConvW 3`
/// (`tasks` names the tasks by index; an index without a name is shown as `task N`).
pub fn tensor_name(key: TensorKey, tasks: &[&str]) -> String {
    use TensorKind::*;
    let task = || tasks.get(key.task as usize).map_or_else(|| format!("task {}", key.task), |n| n.to_string());
    match key.kind {
        PatchW | PatchB | ClsToken | PosEmbed => format!("{:?}", key.kind),
        Gate => format!("{} gate of block {}", task(), key.index),
        HeadLnG | HeadLnB => format!("{} {:?}", task(), key.kind),
        HeadConvW | HeadConvB => format!("{} {:?} {}", task(), key.kind, key.index),
        _ => format!("block {} {:?}", key.index, key.kind),
    }
}

/// A format as `docs/fixed-point.md` writes it: `Q(16,2)`, `UQ(8,0)`.
pub fn format_text(f: Format) -> String {
    format!("{}Q({},{})", if f.signed { "" } else { "U" }, f.width, f.int)
}

/// A profile in one line: the weight mode and the six formats.
pub fn profile_text(p: &Profile) -> String {
    let mode = match p.weights {
        WeightMode::Fixed16 => "weights 16-bit",
        WeightMode::Int8PerTensor => "weights int8, one scale per tensor",
        WeightMode::Int8PerChannel => "weights int8, one scale per output channel",
    };
    let f = format_text;
    let matrices = if p.weights.is_int8() {
        String::new()
    } else {
        format!(", weight {}, patch weight {}", f(p.weight), f(p.patch_weight))
    };
    format!(
        "{mode}; act {}{matrices}, bias {}, attn bias {}, pixel {}",
        f(p.act),
        f(p.bias),
        f(p.attn_bias),
        f(p.pixel)
    )
}

/// A tensor's stored type: `f32`, `f16`, `Q16 Q(16,5)`, `Q8 (64 scales)`.
fn dtype_text(data: &TensorData<'_>, key: TensorKey, profile: Option<&Profile>) -> String {
    match (data, profile) {
        (TensorData::Q16 { .. }, Some(p)) => format!("Q16 {}", format_text(p.format(ValueClass::of(key.kind)))),
        (TensorData::Q8(q), _) => {
            let n = q.scales.len();
            format!("Q8 ({n} scale{})", if n == 1 { "" } else { "s" })
        }
        (d, _) => format!("{:?}", d.dtype()).to_lowercase(),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// Parses `bundle_bytes` and describes it: format version, size, precision, hyperparameters, tasks,
/// parameter counts, bytes per section and scratch size.
pub fn inspect(bundle_bytes: &[u8]) -> Result<String> {
    let aligned = AlignedBytes::from_slice(bundle_bytes);
    let b = Bundle::parse(&aligned).map_err(|e| anyhow!("not a valid bundle: {e}"))?;
    let version = Preamble::read(bundle_bytes).map_err(|e| anyhow!("not a valid bundle: {e}"))?.version;
    let h = *b.hyper();
    let tasks = h.tasks as usize;
    let mut params = [0u64; 6];
    let mut bytes = [0u64; 6];
    let (mut gate_params, mut head_params) = (vec![0u64; tasks], vec![0u64; tasks]);
    let (mut f16_mats, mut f32_mats) = (0u32, 0u32);
    let names: Vec<&str> = b.tasks().map(|t| t.name).collect();
    let mut listing = String::new();
    for i in 0..m3rt::model::tensor_count(&h) {
        let (key, data) = b.tensor_at(i).map_err(|e| anyhow!("tensor #{i}: {e}"))?;
        let (n, size, is_f16) = (data.len() as u64, data.byte_len() as u64, data.dtype() == Dtype::F16);
        let rank = m3rt::model::expected_shape(&h, key, 1).rank;
        if rank >= 2 {
            if is_f16 {
                f16_mats += 1;
            } else {
                f32_mats += 1;
            }
        }
        let shape = b.record(i).ok().and_then(|r| r.shape()).map(|s| format!("{:?}", s.as_slice()));
        writeln!(
            listing,
            "  {i:>4} {:<28} {:<18} {}",
            tensor_name(key, &names),
            shape.unwrap_or_default(),
            dtype_text(&data, key, b.profile().as_ref())
        )?;
        let s = section(key.kind);
        params[s] += n;
        bytes[s] += size;
        let t = (key.task as usize).min(tasks.saturating_sub(1));
        match s {
            4 => gate_params[t] += n,
            5 => head_params[t] += n,
            _ => {}
        }
    }
    let precision = match (b.profile().map(|p| p.weights), f16_mats, f32_mats) {
        (Some(WeightMode::Fixed16), _, _) => "fixed16 (every tensor 16-bit fixed point)",
        (Some(_), _, _) => "int8 (matrices int8 with scales, other tensors 16-bit fixed point)",
        (None, 0, _) => "f32",
        (None, _, 0) => "f16 matrices, f32 vectors",
        _ => "mixed (some matrices f16, some f32)",
    };
    let mut o = String::new();
    let w = &mut o;
    writeln!(w, "M3RT bundle, format version {}", version)?;
    writeln!(
        w,
        "size            {} bytes ({}), weights {} bytes",
        b.total_bytes(),
        mib(b.total_bytes() as u64),
        b.weight_bytes()
    )?;
    writeln!(w, "precision       {precision}")?;
    if let Some(p) = b.profile() {
        writeln!(w, "profile         {}", profile_text(&p))?;
    }
    writeln!(
        w,
        "image           {}x{}x{} (patch {}, grid {}x{}, {} tokens)",
        h.in_chans,
        h.image_h,
        h.image_w,
        h.patch,
        h.grid_h(),
        h.grid_w(),
        h.tokens()
    )?;
    writeln!(w, "normalisation   mean {:?} std {:?}", h.norm_mean, h.norm_std)?;
    writeln!(
        w,
        "backbone        dim {} depth {} heads {} (head dim {}) mlp {} ln_eps {:e}",
        h.dim,
        h.depth,
        h.heads,
        h.head_dim(),
        h.mlp_hidden,
        h.ln_eps
    )?;
    let moe: Vec<String> = (0..h.depth).filter(|&i| h.is_moe(i)).map(|i| i.to_string()).collect();
    if moe.is_empty() {
        writeln!(w, "MoE             none")?;
    } else {
        writeln!(
            w,
            "MoE             blocks [{}], {} experts, top-{}, expert hidden {}",
            moe.join(", "),
            h.experts,
            h.top_k,
            h.expert_hidden
        )?;
    }
    let kind = match h.head_kind {
        HeadKind::Pup => "PUP (4 conv3x3 + conv1x1, bilinear x2 steps)",
        HeadKind::Light => "light (conv3x3 + conv1x1, bilinear to the image size)",
    };
    writeln!(w, "head            {kind}, width {}", h.head_width)?;
    writeln!(w, "tasks           {}", b.task_count())?;
    for t in 0..b.task_count() {
        let info = b.task(t).map_err(|e| anyhow!("task {t}: {e}"))?;
        let tu = t as usize;
        writeln!(
            w,
            "  {t}: {:<12} {:>3} channels, post {:?}; gates {} params, head {} params",
            info.name, info.out_channels, info.post, gate_params[tu], head_params[tu]
        )?;
    }
    let backbone = params[0] + params[1] + params[2];
    let total: u64 = params.iter().sum();
    writeln!(
        w,
        "parameters      {total} total: backbone {backbone} (without experts), experts {}, gates {}, heads {}",
        params[3], params[4], params[5]
    )?;
    writeln!(w, "bytes per section")?;
    for (s, name) in SECTIONS.iter().enumerate() {
        writeln!(w, "  {name:<24} {:>12} bytes ({:>10} params)", bytes[s], params[s])?;
    }
    let scratch = b.scratch_floats() as u64;
    writeln!(w, "scratch         {scratch} floats ({})", mib(scratch.saturating_mul(4)))?;
    writeln!(w, "tensors         index, name, shape, type (and format)")?;
    w.push_str(&listing);
    Ok(o)
}
