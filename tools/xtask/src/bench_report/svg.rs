//! The report's chart: grouped bars of m3vit-t latency per engine, per task and part, as a plain SVG.

use std::fmt::Write as _;

use super::{Figures, Machine};

const ENGINES: [(&str, &str, &str); 5] = [
    ("m3rt-f32", "m3rt f32", "#1f77b4"),
    ("m3rt-f16", "m3rt f16", "#6baed6"),
    ("tract", "tract", "#d62728"),
    ("ort-1t", "onnxruntime 1t", "#2ca02c"),
    ("ort-2t", "onnxruntime 2t", "#98df8a"),
];
const GROUPS: [(&str, &str); 4] = [("semseg", "encoder"), ("semseg", "e2e"), ("depth", "encoder"), ("depth", "e2e")];

/// An SVG chart of m3vit-t latency (ms) per engine, grouped by task and part.
pub fn latency_chart(f: &Figures, m: &Machine) -> String {
    let (width, height, left, top, bottom) = (900.0, 460.0, 70.0, 60.0, 80.0);
    let plot_h = height - top - bottom;
    let key = |task: &str, mode: &str, e: &str| format!("latency.m3vit-t.{task}.{mode}.{e}.ms");
    let max = GROUPS
        .iter()
        .flat_map(|(t, md)| ENGINES.iter().filter_map(move |(e, _, _)| f.get(&key(t, md, e)).copied()))
        .fold(1.0f64, f64::max);
    let step = nice_step(max / 5.0);
    let top_val = (max / step).ceil() * step;
    let y = |v: f64| top + plot_h * (1.0 - v / top_val);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="22" font-size="15">m3vit-t 128×256 latency per engine (ms, median, 1 thread unless 2t)</text>"#
    );
    let _ = writeln!(s, r##"<text x="{left}" y="40" fill="#555">{} · {}</text>"##, esc(&m.cpu), esc(&m.date));
    let mut v = 0.0;
    while v <= top_val + 1e-9 {
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{v}</text>"##,
            width - 20.0,
            left - 6.0,
            yy + 4.0
        );
        v += step;
    }
    let group_w = (width - left - 20.0) / GROUPS.len() as f64;
    let bar_w = group_w * 0.8 / ENGINES.len() as f64;
    for (g, (task, mode)) in GROUPS.iter().enumerate() {
        let gx = left + g as f64 * group_w + group_w * 0.1;
        for (i, (e, _, color)) in ENGINES.iter().enumerate() {
            let Some(&val) = f.get(&key(task, mode, e)) else { continue };
            let x = gx + i as f64 * bar_w;
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{val:.0}</text>"#,
                y(val),
                bar_w - 2.0,
                plot_h * val / top_val,
                x + bar_w / 2.0,
                y(val) - 3.0
            );
        }
        let label = if *mode == "e2e" { "end to end" } else { "encoder" };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{task} {label}</text>"#,
            gx + group_w * 0.4,
            height - bottom + 18.0
        );
    }
    for (i, (_, name, color)) in ENGINES.iter().enumerate() {
        let x = left + i as f64 * 160.0;
        let yy = height - 30.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{color}"/><text x="{}" y="{yy}">{name}</text>"#,
            yy - 10.0,
            x + 16.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A round axis step (1, 2 or 5 times a power of ten) near `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.max(1e-9).log10().floor());
    let r = raw / p;
    p * if r <= 1.0 {
        1.0
    } else if r <= 2.0 {
        2.0
    } else if r <= 5.0 {
        5.0
    } else {
        10.0
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
