//! The host "board": the firmware's command loop (`m3rt::serve`) on a TCP socket, with the A/B model slots
//! kept as files that are replaced atomically (write a temporary file, fsync, rename, fsync the folder), so
//! a killed process never leaves a half-written model active. Also the core of the Linux userspace build.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use m3rt::bundle::AlignedBytes;
use m3rt::protocol::Slot;
use m3rt::serve::{CpuBackend, ModelStorage, Server, SlotWriter, Stopped};

/// Firmware name reported by the host board.
pub const FIRMWARE: &str = concat!("m3rt-host ", env!("CARGO_PKG_VERSION"));

/// Model slots as files in a folder: `slot-a.m3b`, `slot-b.m3b`, and `active` naming the active one.
pub struct FileStorage {
    dir: PathBuf,
    active: Option<(Slot, AlignedBytes)>,
    writer: FileSlotWriter,
}

/// The inactive slot of a [`FileStorage`]: uploads are staged in memory and written out on commit.
pub struct FileSlotWriter {
    capacity: usize,
    staged: AlignedBytes,
}

impl FileStorage {
    /// Opens (creating) the slot folder and loads the active slot, if the marker names a readable one.
    /// Slots hold bundles of at most `capacity` bytes.
    pub fn open(dir: &Path, capacity: usize) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let active = match read_marker(dir)? {
            Some(slot) => {
                let path = slot_path(dir, slot);
                let bytes = AlignedBytes::read_file(&path).with_context(|| format!("reading {}", path.display()))?;
                Some((slot, bytes))
            }
            None => None,
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            active,
            writer: FileSlotWriter { capacity, staged: AlignedBytes::zeroed(0) },
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The active slot's bytes.
    pub fn active_bytes(&self) -> Option<&[u8]> {
        self.active.as_ref().map(|(_, b)| &b[..])
    }

    /// Installs `bundle` as the active model (first start): written like an upload's commit, unverified.
    pub fn install(&mut self, bundle: &[u8]) -> Result<()> {
        self.writer.begin(bundle.len())?;
        self.writer.write(0, bundle)?;
        self.commit(bundle.len())?;
        Ok(())
    }
}

fn slot_path(dir: &Path, slot: Slot) -> PathBuf {
    dir.join(match slot {
        Slot::A => "slot-a.m3b",
        Slot::B => "slot-b.m3b",
    })
}

fn read_marker(dir: &Path) -> Result<Option<Slot>> {
    let path = dir.join("active");
    match fs::read_to_string(&path) {
        Ok(s) => match s.trim() {
            "A" => Ok(Some(Slot::A)),
            "B" => Ok(Some(Slot::B)),
            other => bail!("{}: unexpected contents {other:?} (expected A or B)", path.display()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Replaces `path` by `bytes` atomically: temporary file, fsync, rename, fsync of the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl ModelStorage for FileStorage {
    type Writer = FileSlotWriter;

    fn active(&self) -> Option<Slot> {
        self.active.as_ref().map(|(s, _)| *s)
    }

    fn split(&mut self) -> (Option<&[u8]>, &mut FileSlotWriter) {
        (self.active.as_ref().map(|(_, b)| &b[..]), &mut self.writer)
    }

    fn commit(&mut self, len: usize) -> m3rt::Result<()> {
        let slot = self.active().map_or(Slot::A, Slot::other);
        let staged = std::mem::replace(&mut self.writer.staged, AlignedBytes::zeroed(0));
        if staged.len() != len {
            return Err(m3rt::Error::Storage { what: "commit length differs from the upload" });
        }
        let storage_err = |_| m3rt::Error::Storage { what: "writing the slot file failed" };
        write_atomically(&slot_path(&self.dir, slot), &staged).map_err(storage_err)?;
        let marker = match slot {
            Slot::A => "A\n",
            Slot::B => "B\n",
        };
        write_atomically(&self.dir.join("active"), marker.as_bytes()).map_err(storage_err)?;
        self.active = Some((slot, staged));
        Ok(())
    }
}

impl SlotWriter for FileSlotWriter {
    fn capacity(&self) -> usize {
        self.capacity
    }

    fn begin(&mut self, len: usize) -> m3rt::Result<()> {
        if len > self.capacity {
            return Err(m3rt::Error::Storage { what: "model larger than the slot" });
        }
        self.staged = AlignedBytes::zeroed(len);
        Ok(())
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> m3rt::Result<()> {
        let dst = offset
            .checked_add(data.len())
            .and_then(|end| self.staged.as_mut_slice().get_mut(offset..end))
            .ok_or(m3rt::Error::Storage { what: "write past the end" })?;
        dst.copy_from_slice(data);
        Ok(())
    }

    fn written(&self) -> &[u8] {
        &self.staged
    }
}

/// Working memory of the host board: engine scratch and input/output staging, sized generously (the
/// pages are only touched as far as a model uses them).
pub struct HostBuffers {
    scratch: Vec<f32>,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl HostBuffers {
    /// Buffers of `scratch` and `staging` f32 values.
    pub fn new(scratch: usize, staging: usize) -> Self {
        Self { scratch: vec![0.0; scratch], input: vec![0.0; staging], output: vec![0.0; staging] }
    }
}

impl Default for HostBuffers {
    /// 64 Mi values of scratch and 16 Mi of staging each: room for m3vit-t at 128×256.
    fn default() -> Self {
        Self::new(64 << 20, 16 << 20)
    }
}

/// Microseconds since the first call: the host board's clock.
pub fn host_micros() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// The host board's serial line: connections on a listener, one after another, seen as one endless byte
/// stream, the way a UART outlives the host programs that open it. A closed connection is replaced by the
/// next one; the command loop's state (selected task, staged input, an upload in progress) carries over.
pub struct ListenerLine<'l> {
    listener: &'l TcpListener,
    stream: Option<TcpStream>,
    left: Option<usize>,
}

impl<'l> ListenerLine<'l> {
    /// The line over `listener`; it ends (reads return 0) after `connections` connections, if given.
    pub fn new(listener: &'l TcpListener, connections: Option<usize>) -> Self {
        Self { listener, stream: None, left: connections }
    }

    /// The current connection, accepting the next one when there is none; `None` when the line has ended.
    fn connected(&mut self) -> std::io::Result<Option<&mut TcpStream>> {
        if self.stream.is_none() {
            if self.left == Some(0) {
                return Ok(None);
            }
            let (stream, _) = self.listener.accept()?;
            stream.set_nodelay(true)?;
            self.left = self.left.map(|n| n - 1);
            self.stream = Some(stream);
        }
        Ok(self.stream.as_mut())
    }
}

impl embedded_io::ErrorType for ListenerLine<'_> {
    type Error = std::io::Error;
}

impl embedded_io::Read for ListenerLine<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(stream) = self.connected()? else { return Ok(0) };
            match stream.read(buf) {
                Ok(0) => self.stream = None,
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // A reset connection ends like a closed one.
                Err(_) => self.stream = None,
            }
        }
    }
}

impl embedded_io::Write for ListenerLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Like a UART with nobody listening, bytes for a vanished host are dropped.
        if let Some(stream) = self.stream.as_mut() {
            if stream.write_all(buf).is_err() {
                self.stream = None;
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(stream) = self.stream.as_mut() {
            if stream.flush().is_err() {
                self.stream = None;
            }
        }
        Ok(())
    }
}

/// Runs the command loop over the connections of `listener` (all of them, or the first `connections`) as
/// one serial line; a warm reboot request restarts the loop, keeping only the model slots.
pub fn serve_listener<S: ModelStorage>(
    listener: &TcpListener,
    storage: &mut S,
    buffers: &mut HostBuffers,
    connections: Option<usize>,
) -> Result<()> {
    let mut server = Server::new(
        ListenerLine::new(listener, connections),
        storage,
        CpuBackend::new(&mut buffers.scratch),
        &mut buffers.input,
        &mut buffers.output,
        FIRMWARE,
    )
    .with_clock(host_micros);
    while server.run().context("serial line failed")? == Stopped::Reboot {}
    Ok(())
}
