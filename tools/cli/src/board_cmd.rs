//! `m3rt board`: talk to a board (or `m3rt serve`, or QEMU) over the serial protocol.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use clap::Subcommand;
use m3rt::model::PostProcess;
use m3rt::protocol::ErrorCode;
use m3rt_cli::board::{link, BoardError, BoardInfo, Client, LinkArgs};

use crate::{picture, run};

/// Arguments of `m3rt board`.
#[derive(clap::Args)]
pub struct BoardArgs {
    #[command(flatten)]
    link: LinkArgs,
    #[command(subcommand)]
    action: BoardAction,
}

#[derive(Subcommand)]
enum BoardAction {
    /// Firmware, protocol, backend and the active model.
    Info,
    /// The model's tasks.
    Tasks,
    /// Select a task by name or index; prints the measured round-trip time.
    Switch {
        /// Task name or index.
        task: String,
    },
    /// Run the selected task on an image (PNG or float32 .npy [1, 3, H, W]).
    Infer {
        /// The input image.
        image: PathBuf,
        /// Write the input and output side by side as a PNG.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Counters of the last run: experts read per block, bytes, run time.
    Stats,
    /// Poll the board and print a line whenever its state changes.
    Monitor {
        /// Poll interval in milliseconds.
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
        /// Stop after this many polls (0: until interrupted).
        #[arg(long, default_value_t = 0)]
        count: u64,
    },
}

/// Opens the link of `args` and says hello.
pub fn connect(args: &LinkArgs) -> Result<(Client<Box<dyn link::Link>>, BoardInfo)> {
    let target = args.target().ok_or_else(|| anyhow!("say where the board is: --port DEVICE or --tcp HOST:PORT"))?;
    let io = link::open(&target, Duration::from_millis(args.timeout_ms))?;
    let mut client = Client::new(io);
    let info = client.hello().context("no hello from the board")?;
    Ok((client, info))
}

/// Runs `m3rt board`.
pub fn board(args: &BoardArgs) -> Result<()> {
    let (mut c, info) = connect(&args.link)?;
    match &args.action {
        BoardAction::Info => print_info(&info),
        BoardAction::Tasks => {
            let (tasks, selected) = c.tasks()?;
            for (i, t) in tasks.iter().enumerate() {
                let mark = if i as u32 == selected { "*" } else { " " };
                println!("{mark} {i}: {} ({} channels)", t.name, t.channels);
            }
        }
        BoardAction::Switch { task } => {
            let start = Instant::now();
            let (index, out_len) = c.select(task)?;
            let rtt = start.elapsed();
            println!("selected task {index} ({out_len} output values); round trip {:.3} ms", rtt.as_secs_f64() * 1e3);
        }
        BoardAction::Infer { image, out } => infer(&mut c, &info, image, out.as_ref())?,
        BoardAction::Stats => print_stats(&mut c)?,
        BoardAction::Monitor { interval_ms, count } => monitor(&mut c, *interval_ms, *count)?,
    }
    Ok(())
}

fn print_info(info: &BoardInfo) {
    println!("firmware {} (protocol {}), backend {}", info.firmware, info.protocol, info.backend);
    if let Some(why) = &info.fallback {
        println!("serving on the {} fallback because {why}", info.backend);
    }
    match &info.model {
        Some(m) => println!(
            "model in slot {:?}: {} bytes, fingerprint {:#010x}, {} tasks (task {} selected), input {}x{}",
            m.slot, m.bytes, m.fingerprint, m.tasks, m.task, m.image_h, m.image_w
        ),
        None => println!("no model: upload one with `m3rt flash`"),
    }
}

fn infer(c: &mut Client<Box<dyn link::Link>>, info: &BoardInfo, image: &Path, out: Option<&PathBuf>) -> Result<()> {
    let m = info.model.ok_or_else(|| anyhow!("the board has no model"))?;
    let (h, w) = (m.image_h as usize, m.image_w as usize);
    let input = run::read_input(image, h, w)?;
    let (tasks, selected) = c.tasks()?;
    let task = tasks.get(selected as usize).ok_or_else(|| anyhow!("the board selected an unknown task"))?;
    let start = Instant::now();
    let (output, report) = c.infer(&input)?;
    let total = start.elapsed();
    let board_time = report.micros.map_or("n/a".into(), |us| format!("{:.3} ms", f64::from(us) / 1e3));
    println!(
        "task '{}' ({} channels, {h}x{w}): run {board_time} on the board, {:.1} ms with transfers",
        task.name,
        task.channels,
        total.as_secs_f64() * 1e3
    );
    if let Some(out) = out {
        let post = PostProcess::from_u8(task.post).unwrap_or(PostProcess::Raw);
        let pic = picture::side_by_side(
            &picture::from_input(&input, h, w),
            &picture::draw_output(&output, task.channels as usize, h, w, post),
        );
        picture::write_png(out, &picture::enlarged(&pic, 192))?;
        println!("picture written to {}", out.display());
    }
    Ok(())
}

fn print_stats(c: &mut Client<Box<dyn link::Link>>) -> Result<()> {
    let s = match c.stats() {
        Err(e) if e.downcast_ref::<BoardError>().is_some_and(|b| b.code == ErrorCode::NoOutput) => {
            println!("no run yet");
            return Ok(());
        }
        other => other?,
    };
    let time = s.micros.map_or("n/a".into(), |us| format!("{:.3} ms", f64::from(us) / 1e3));
    println!("runs {}, last run: task {}, {time}, {} bytes of expert weights read", s.runs, s.task, s.expert_bytes);
    for (b, l) in s.layers.iter().enumerate().filter(|(_, l)| l.expert_loads > 0) {
        println!("  block {b}: experts read {:#b} ({} loads)", l.experts_read, l.expert_loads);
    }
    if let Some(a) = s.accel {
        println!("  accelerator: {} experts fetched, {} KiB of weights fetched", a.expert_loads, a.weight_kib);
    }
    Ok(())
}

fn monitor(c: &mut Client<Box<dyn link::Link>>, interval_ms: u64, count: u64) -> Result<()> {
    let mut last = String::new();
    let mut polls = 0;
    while count == 0 || polls < count {
        polls += 1;
        let info = c.info()?;
        let runs = match c.stats() {
            Ok(s) => format!("runs {}, last task {}, {:?} µs", s.runs, s.task, s.micros),
            Err(e) if e.downcast_ref::<BoardError>().is_some() => "no run yet".into(),
            Err(e) => return Err(e),
        };
        let model = info.model.map_or("no model".into(), |m| {
            format!("slot {:?} fingerprint {:#010x} task {}", m.slot, m.fingerprint, m.task)
        });
        let line = format!("{model}; {runs}");
        if line != last {
            println!("{line}");
            last = line;
        }
        std::thread::sleep(Duration::from_millis(interval_ms));
    }
    Ok(())
}
