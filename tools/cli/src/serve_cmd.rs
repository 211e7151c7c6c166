//! `m3rt serve`: a board on the host: the firmware's command loop on a TCP socket, model slots as files.

use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use m3rt::bundle::layout::{crc32, PREAMBLE_LEN};
use m3rt::bundle::{AlignedBytes, Bundle};
use m3rt_cli::board::host::{serve_listener, FileStorage, HostBuffers};

/// Arguments of `m3rt serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Make this bundle the active model at start (written to the inactive slot, like an upload). Without
    /// it, the slots' active model is served.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:7878")]
    tcp: String,
    /// Folder of the A/B slot files.
    #[arg(long, default_value = "m3rt-slots")]
    slots: PathBuf,
    /// Largest model a slot takes, in MiB.
    #[arg(long, default_value_t = 512)]
    slot_mib: usize,
}

/// Runs `m3rt serve` until interrupted.
pub fn serve(args: &ServeArgs) -> Result<()> {
    let mut storage = FileStorage::open(&args.slots, args.slot_mib << 20)?;
    if let Some(model) = &args.model {
        let bytes = AlignedBytes::read_file(model).with_context(|| format!("reading {}", model.display()))?;
        let len = Bundle::parse(&bytes).map_err(|e| anyhow!("{}: {e}", model.display()))?.total_bytes();
        let fingerprint = |b: &[u8]| b.get(..PREAMBLE_LEN).map(crc32);
        if storage.active_bytes().and_then(fingerprint) != fingerprint(&bytes) {
            storage.install(&bytes[..len]).context("installing the model")?;
        }
    }
    let listener = TcpListener::bind(&args.tcp).with_context(|| format!("listening on {}", args.tcp))?;
    let model = storage.active_bytes().map_or("no model (waiting for `m3rt flash`)".to_string(), |b| {
        format!("model fingerprint {:#010x}", crc32(&b[..PREAMBLE_LEN.min(b.len())]))
    });
    println!("m3rt serve: listening on {} with slots in {}, {model}", listener.local_addr()?, args.slots.display());
    serve_listener(&listener, &mut storage, &mut HostBuffers::default(), None)
}
