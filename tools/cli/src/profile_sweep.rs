//! `m3rt profile sweep`: the design-space sweep of the host simulator (`m3rt_sim::sweep`) on one task and
//! input: every variant's resource estimate (or the resource it overflows), its simulated latency and
//! energy, the Pareto front; a table, and optionally a CSV and an SVG scatter of the front. SIMULATED.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use m3rt_sim::sweep::{pareto, sweep, Grid, Point};

use crate::profile_cmd::{load_design, load_input, BoardName};

/// Options of `m3rt profile sweep`.
#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// The quantized bundle.
    #[arg(long)]
    model: PathBuf,
    /// Task name.
    #[arg(long)]
    task: String,
    /// The design point varied (its tile, clock and precision).
    #[arg(long, value_enum, default_value = "zcu104", conflicts_with = "design")]
    board: BoardName,
    /// A design point file to vary instead.
    #[arg(long)]
    design: Option<PathBuf>,
    /// The input whose routing the MoE layers follow; default: a seeded image.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Also write one CSV row a variant.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Also write an SVG scatter of latency against energy, the Pareto front joined.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// Runs the sweep.
pub fn run(args: &SweepArgs) -> Result<()> {
    let base = load_design(args.board, args.design.as_ref())?;
    let (bytes, task, input) = load_input(&args.model, &args.task, args.input.as_ref())?;
    let bundle = m3rt::bundle::Bundle::parse(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let channels = bundle.task(task).map_err(|e| anyhow::anyhow!("{e}"))?.out_channels;
    let queues = m3rt_sim::routes::queues(&bundle, task, &input)?;
    let points = sweep(&base, &Grid::default(), bundle.hyper(), channels, &queues);
    let front = pareto(&points);
    print!("{}", table(&points, &front));
    if front.len() == 1 {
        println!(
            "one point is on the front: the energy model is dominated by the static power (boards/sim/README.md: \
             assumed the same for every variant), so the fastest variant also spends the least"
        );
    }
    if let Some(out) = &args.csv {
        std::fs::write(out, csv(&points, &front)).with_context(|| format!("writing {}", out.display()))?;
        println!("CSV written to {}", out.display());
    }
    if let Some(out) = &args.plot {
        std::fs::write(out, svg(&points, &front, &base.name)).with_context(|| format!("writing {}", out.display()))?;
        println!("chart written to {}", out.display());
    }
    Ok(())
}

fn row(p: &Point) -> (String, String) {
    let fit = match &p.fit {
        Ok(r) => format!("{:>5} {:>5} {:>4} {:>7}", r.dsp, r.bram36, r.uram, r.lut),
        Err(e) => format!("does not fit: {e}"),
    };
    let sim = p.latency_energy().map_or("-".into(), |(t, e)| format!("{:>9.3} ms {:>8.4} J", t * 1e3, e));
    (fit, sim)
}

fn table(points: &[Point], front: &[usize]) -> String {
    let mut s = String::from("SIMULATED design-space sweep (resources are estimates; * = on the Pareto front)\n");
    let _ = writeln!(
        s,
        "  {:<40} {:>5} {:>5} {:>4} {:>7}  {:>12} {:>10}",
        "variant", "DSP", "BRAM", "URAM", "LUT", "end to end", "energy"
    );
    for (i, p) in points.iter().enumerate() {
        let (fit, sim) = row(p);
        let mark = if front.contains(&i) { '*' } else { ' ' };
        let _ = writeln!(s, "{mark} {:<40} {fit}  {sim}", p.design.name);
    }
    s
}

fn csv(points: &[Point], front: &[usize]) -> String {
    let mut s = String::from("# SIMULATED\nvariant,fits,dsp,bram36,uram,lut,ms,joules,pareto\n");
    for (i, p) in points.iter().enumerate() {
        let (fits, r) = match &p.fit {
            Ok(r) => ("yes".to_string(), *r),
            Err(e) => (format!("no: {e}"), Default::default()),
        };
        let (ms, j) = p
            .latency_energy()
            .map_or((String::new(), String::new()), |(t, e)| (format!("{}", t * 1e3), format!("{e}")));
        let _ = writeln!(
            s,
            "{},\"{fits}\",{},{},{},{},{ms},{j},{}",
            p.design.name,
            r.dsp,
            r.bram36,
            r.uram,
            r.lut,
            front.contains(&i)
        );
    }
    s
}

fn svg(points: &[Point], front: &[usize], base: &str) -> String {
    let v: Vec<(usize, f64, f64)> =
        points.iter().enumerate().filter_map(|(i, p)| p.latency_energy().map(|(t, e)| (i, t * 1e3, e))).collect();
    let (w, h, m) = (760.0, 520.0, 70.0);
    let (tmax, emax) = v.iter().fold((1e-9f64, 1e-12f64), |(a, b), &(_, t, e)| (a.max(t), b.max(e)));
    let x = |t: f64| m + (w - 2.0 * m) * t / (tmax * 1.05);
    let y = |e: f64| h - m - (h - 2.0 * m) * e / (emax * 1.05);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">Design-space sweep of {base} — SIMULATED (end to end per image)</text>\n\
         <line x1=\"{m}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"black\"/><line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{b}\" stroke=\"black\"/>\n\
         <text x=\"{cx}\" y=\"{lb}\">latency (ms), 0 to {tm:.2}</text>\
         <text x=\"12\" y=\"{cy}\" transform=\"rotate(-90 12 {cy})\">energy (J), 0 to {em:.3}</text>\n",
        b = h - m,
        r = w - m,
        cx = w / 2.0 - 60.0,
        lb = h - m + 30.0,
        tm = tmax * 1.05,
        cy = h / 2.0,
        em = emax * 1.05,
    );
    let path: Vec<String> = front
        .iter()
        .filter_map(|&i| v.iter().find(|p| p.0 == i).map(|&(_, t, e)| format!("{:.1},{:.1}", x(t), y(e))))
        .collect();
    let _ =
        writeln!(s, "<polyline points=\"{}\" fill=\"none\" stroke=\"#e15759\" stroke-width=\"2\"/>", path.join(" "));
    for &(i, t, e) in &v {
        let on = front.contains(&i);
        let _ = writeln!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\" fill=\"{}\"><title>{}</title></circle>",
            x(t),
            y(e),
            if on { 5 } else { 3 },
            if on { "#e15759" } else { "#4e79a7" },
            points[i].design.name
        );
        if on {
            let _ =
                writeln!(s, "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>", x(t) + 7.0, y(e) - 4.0, points[i].design.name);
        }
    }
    s.push_str("</svg>\n");
    s
}
