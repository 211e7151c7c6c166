//! The files `m3rt profile` writes from a simulated [`Report`]: JSON (every layer and total), CSV (one row a
//! layer), a Chrome / Perfetto trace (one complete event a layer, in order, on the accelerator's track) and
//! an SVG chart (per-layer latency and energy bars). Every file says its figures are SIMULATED.

use std::fmt::Write as _;

use m3rt_sim::model::Part;
use m3rt_sim::report::{Layer, Report, Total};
use serde_json::{json, Value};

pub use crate::roofline::Roof;
use crate::roofline::{roofline_points, LogBox};

fn part(p: Part) -> &'static str {
    match p {
        Part::Encoder => "encoder",
        Part::Head => "head",
    }
}

/// A layer's milliseconds at the report's clock.
fn layer_ms(r: &Report, l: &Layer) -> f64 {
    l.cost.cycles as f64 / (r.clock_mhz * 1e3)
}

fn total_json(t: &Total) -> Value {
    json!({
        "ms": t.seconds * 1e3,
        "joules": t.energy.total_j(),
        "static_joules": t.energy.static_j,
        "cycles": t.cost.cycles,
        "macs": t.cost.linear_macs + t.cost.attention_macs,
        "ddr_read_bytes": t.cost.ddr_read,
        "ddr_write_bytes": t.cost.ddr_write,
    })
}

/// The whole report as JSON.
pub fn json(r: &Report, model: &str, task: &str) -> Value {
    let layers: Vec<Value> = r
        .layers
        .iter()
        .map(|l| {
            json!({
                "name": l.name,
                "part": part(l.part),
                "cycles": l.cost.cycles,
                "ms": layer_ms(r, l),
                "joules": l.energy.total_j(),
                "macs": l.cost.linear_macs + l.cost.attention_macs,
                "ddr_read_bytes": l.cost.ddr_read,
                "ddr_write_bytes": l.cost.ddr_write,
            })
        })
        .collect();
    let experts: Vec<Value> = r
        .experts
        .iter()
        .map(|e| {
            json!({
                "layer": e.layer,
                "expert": e.expert,
                "tokens": e.tokens,
                "calls": e.calls,
                "cycles": e.cost.cycles,
                "ms": e.cost.cycles as f64 / (r.clock_mhz * 1e3),
                "joules": e.energy.total_j(),
                "macs": e.cost.linear_macs,
                "ddr_weight_read_bytes": e.cost.ddr_weight_read,
            })
        })
        .collect();
    json!({
        "simulated": true,
        "note": "SIMULATED by the host simulator (boards/sim), not measured",
        "design": r.design,
        "clock_mhz": r.clock_mhz,
        "model": model,
        "task": task,
        "layers": layers,
        "experts": experts,
        "encoder": total_json(&r.encoder),
        "head": r.head.as_ref().map(total_json).unwrap_or(Value::Null),
        "end_to_end": total_json(&r.end_to_end()),
        "task_switch_register_writes": m3rt::accel::driver::SELECT_WRITES,
    })
}

/// One CSV row a layer (a header first; a comment line says the figures are simulated).
pub fn csv(r: &Report) -> String {
    let mut s = format!(
        "# SIMULATED on {} at {} MHz\nlayer,part,cycles,ms,joules,macs,ddr_read_bytes,ddr_write_bytes\n",
        r.design, r.clock_mhz
    );
    for l in &r.layers {
        let macs = l.cost.linear_macs + l.cost.attention_macs;
        let _ = writeln!(
            s,
            "{},{},{},{:.6},{:.9},{},{},{}",
            l.name,
            part(l.part),
            l.cost.cycles,
            layer_ms(r, l),
            l.energy.total_j(),
            macs,
            l.cost.ddr_read,
            l.cost.ddr_write
        );
    }
    s
}

/// The Chrome trace event format (JSON object form): one complete event (`ph: "X"`) a layer, back to back on
/// one track, times in microseconds.
pub fn trace(r: &Report) -> Value {
    let mut ts = 0.0;
    let mut events = vec![json!({"name": "process_name", "ph": "M", "pid": 1, "tid": 1,
        "args": {"name": format!("{} accelerator (SIMULATED)", r.design)}})];
    for l in &r.layers {
        let dur = layer_ms(r, l) * 1e3;
        events.push(json!({
            "name": l.name, "cat": part(l.part), "ph": "X", "ts": ts, "dur": dur, "pid": 1, "tid": 1,
            "args": {"cycles": l.cost.cycles, "joules": l.energy.total_j(), "ddr_read_bytes": l.cost.ddr_read},
        }));
        ts += dur;
    }
    json!({"traceEvents": events, "displayTimeUnit": "ms", "otherData": {"simulated": true, "design": r.design}})
}

/// An SVG chart: per layer, a latency bar and an energy bar, each scaled to the largest layer.
pub fn svg(r: &Report, roof: &Roof, title: &str) -> String {
    let (w, row, left, bar) = (900.0, 18.0, 110.0, 330.0);
    let bars_h = 70.0 + row * r.layers.len() as f64;
    let h = bars_h + 380.0;
    let max_ms = r.layers.iter().map(|l| layer_ms(r, l)).fold(1e-12, f64::max);
    let max_j = r.layers.iter().map(|l| l.energy.total_j()).fold(1e-15, f64::max);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"18\" font-size=\"14\">{} — SIMULATED on {} at {} MHz</text>\n\
         <text x=\"{left}\" y=\"44\">latency (ms)</text><text x=\"{}\" y=\"44\">energy (mJ)</text>\n",
        xml(title),
        xml(&r.design),
        r.clock_mhz,
        left + bar + 60.0
    );
    for (i, l) in r.layers.iter().enumerate() {
        let y = 52.0 + row * i as f64;
        let (ms, mj) = (layer_ms(r, l), l.energy.total_j() * 1e3);
        let (lw, ew) = (bar * ms / max_ms, bar * l.energy.total_j() / max_j);
        let color = if l.part == Part::Encoder { "#4e79a7" } else { "#f28e2b" };
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{ty}\">{name}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{lw:.1}\" height=\"{bh}\" fill=\"{color}\"/>\
             <text x=\"{lx:.1}\" y=\"{ty}\">{ms:.3}</text>\
             <rect x=\"{ex}\" y=\"{y}\" width=\"{ew:.1}\" height=\"{bh}\" fill=\"{color}\" opacity=\"0.6\"/>\
             <text x=\"{elx:.1}\" y=\"{ty}\">{mj:.3}</text>",
            ty = y + 12.0,
            name = xml(&l.name),
            bh = row - 4.0,
            lx = left + lw + 4.0,
            ex = left + bar + 60.0,
            elx = left + bar + 64.0 + ew,
        );
    }
    let b = LogBox { x0: left, y0: bars_h + 40.0, w: 600.0, h: 300.0, ymax: roof.peak_gmacs * 10.0 };
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"{}\" font-size=\"13\">roofline: {:.1} GMAC/s peak, {:.1} GB/s from DDR (log-log)</text>\
         <rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\
         <text x=\"{}\" y=\"{}\">MAC per DDR byte, 0.1 to 10 000</text>\
         <text x=\"10\" y=\"{}\">GMAC/s</text>",
        bars_h + 22.0,
        roof.peak_gmacs,
        roof.mem_gbps,
        b.x0,
        b.y0,
        b.w,
        b.h,
        b.x0 + 200.0,
        b.y0 + b.h + 20.0,
        b.y0 + 10.0
    );
    let pts: Vec<String> = (0..=100)
        .map(|i| {
            let v = 10f64.powf(-1.0 + 5.0 * f64::from(i) / 100.0);
            format!("{:.1},{:.1}", b.x(v), b.y(roof.attainable(v)))
        })
        .collect();
    let _ = writeln!(s, "<polyline points=\"{}\" fill=\"none\" stroke=\"#555\" stroke-width=\"2\"/>", pts.join(" "));
    for (l, i, g) in roofline_points(r) {
        let color = if l.part == Part::Encoder { "#4e79a7" } else { "#f28e2b" };
        let _ = writeln!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"><title>{}: {i:.2} MAC/B, {g:.2} GMAC/s</title></circle>",
            b.x(i),
            b.y(g),
            xml(&l.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The chart of [`svg`] as a PNG: per layer, a latency bar and an energy bar (encoder blue, head orange).
pub fn png(r: &Report, roof: &Roof, title: &str, path: &std::path::Path) -> anyhow::Result<()> {
    use crate::raster::Canvas;
    let (row, left, bar) = (20usize, 120usize, 330usize);
    let bars_h = 76 + row * r.layers.len();
    let (w, h) = (left + 2 * bar + 190, bars_h + 400);
    let mut c = Canvas::new(w, h);
    let black = [0, 0, 0];
    c.text(10, 10, &format!("{title} - SIMULATED on {} at {} MHz", r.design, r.clock_mhz), 1, black);
    c.text(left, 40, "latency (ms)", 1, black);
    c.text(left + bar + 80, 40, "energy (mJ)", 1, black);
    let max_ms = r.layers.iter().map(|l| layer_ms(r, l)).fold(1e-12, f64::max);
    let max_j = r.layers.iter().map(|l| l.energy.total_j()).fold(1e-15, f64::max);
    for (i, l) in r.layers.iter().enumerate() {
        let y = 58 + row * i;
        let (ms, j) = (layer_ms(r, l), l.energy.total_j());
        let (color, light) = match l.part {
            Part::Encoder => ([78, 121, 167], [150, 178, 206]),
            Part::Head => ([242, 142, 43], [248, 190, 130]),
        };
        let lw = ((bar as f64) * ms / max_ms).round() as usize;
        let ew = ((bar as f64) * j / max_j).round() as usize;
        c.text(10, y + 4, &l.name, 1, black);
        c.rect(left, y, lw.max(1), row - 5, color);
        c.text(left + lw + 4, y + 4, &format!("{ms:.3}"), 1, black);
        let ex = left + bar + 80;
        c.rect(ex, y, ew.max(1), row - 5, light);
        c.text(ex + ew + 4, y + 4, &format!("{:.3}", j * 1e3), 1, black);
    }
    let b = LogBox { x0: left as f64, y0: (bars_h + 40) as f64, w: 600.0, h: 300.0, ymax: roof.peak_gmacs * 10.0 };
    c.text(
        10,
        bars_h + 14,
        &format!("roofline: {:.1} GMAC/s peak, {:.1} GB/s from DDR (log-log)", roof.peak_gmacs, roof.mem_gbps),
        1,
        black,
    );
    let (bx, by, bw, bh) = (b.x0 as usize, b.y0 as usize, b.w as usize, b.h as usize);
    for (x, y, w, h) in [(bx, by, bw, 1), (bx, by + bh, bw + 1, 1), (bx, by, 1, bh), (bx + bw, by, 1, bh)] {
        c.rect(x, y, w, h, black);
    }
    c.text(bx + 200, by + bh + 10, "MAC per DDR byte, 0.1 to 10 000", 1, black);
    c.text(10, by + 4, "GMAC/s", 1, black);
    for i in 0..=600 {
        let v = 10f64.powf(-1.0 + 5.0 * f64::from(i) / 600.0);
        c.rect(b.x(v) as usize, b.y(roof.attainable(v)) as usize, 2, 2, [85, 85, 85]);
    }
    for (l, i, g) in roofline_points(r) {
        let color = if l.part == Part::Encoder { [78, 121, 167] } else { [242, 142, 43] };
        c.rect(b.x(i) as usize - 3, b.y(g) as usize - 3, 7, 7, color);
    }
    c.write_png(path)
}

/// `text` with XML's special characters escaped.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
