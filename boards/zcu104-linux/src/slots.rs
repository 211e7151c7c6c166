//! The A/B model slots as files in a folder, replaced atomically (write a temporary file, fsync, rename,
//! fsync the folder), so a killed process never leaves a half-written model active.
//!
//! A commit is ten file operations ([`COMMIT_STEPS`]): the slot file's temporary created, written in two
//! halves (the second with its fsync), renamed, the folder fsynced; then the same five for the `active`
//! marker. The marker's rename (the ninth) is the one that switches models. [`FileStorage::cut_commit_after`]
//! stops a commit after any number of them, leaving the files as a power cut there would (for the power-loss
//! tests).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use m3rt::bundle::AlignedBytes;
use m3rt::protocol::Slot;
use m3rt::serve::{ModelStorage, SlotWriter};

/// Model slots as files in a folder: `slot-a.m3b`, `slot-b.m3b`, and `active` naming the active one.
pub struct FileStorage {
    dir: PathBuf,
    active: Option<(Slot, AlignedBytes)>,
    writer: FileSlotWriter,
    cut: Steps,
}

/// File operations of one commit: two atomic replacements of five operations each (see the module doc).
pub const COMMIT_STEPS: u32 = 10;

/// Counts the file operations of a commit and fails the one past the cut, if one is set.
#[derive(Clone, Copy, Debug, Default)]
struct Steps {
    /// Operations still allowed (`None`: no cut).
    left: Option<u32>,
}

impl Steps {
    /// Allows one more operation, or fails with "power cut" when none is left.
    fn step(&mut self) -> std::io::Result<()> {
        match &mut self.left {
            Some(0) => Err(std::io::Error::other("power cut (simulated)")),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
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
            cut: Steps::default(),
        })
    }

    /// Makes the next commits stop after `steps` of their file operations (at most [`COMMIT_STEPS`] do
    /// anything), as a power cut there would: no later operation runs, the commit fails with a storage
    /// error, and the files stay as they are. For the power-loss tests; a board process never sets it.
    pub fn cut_commit_after(mut self, steps: u32) -> Self {
        self.cut = Steps { left: Some(steps) };
        self
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
    write_in_steps(path, bytes, &mut Steps::default())
}

/// [`write_atomically`] in five counted operations (create, first half, second half and fsync, rename,
/// folder fsync), stopping where `steps` says.
fn write_in_steps(path: &Path, bytes: &[u8], steps: &mut Steps) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        steps.step()?;
        let mut f = File::create(&tmp)?;
        let (first, second) = bytes.split_at(bytes.len() / 2);
        steps.step()?;
        f.write_all(first)?;
        steps.step()?;
        f.write_all(second)?;
        f.sync_all()?;
    }
    steps.step()?;
    fs::rename(&tmp, path)?;
    steps.step()?;
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
        write_in_steps(&slot_path(&self.dir, slot), &staged, &mut self.cut).map_err(storage_err)?;
        let marker = match slot {
            Slot::A => "A\n",
            Slot::B => "B\n",
        };
        write_in_steps(&self.dir.join("active"), marker.as_bytes(), &mut self.cut).map_err(storage_err)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("m3rt-linux-slots-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn commits_alternate_slots_and_reopen_the_last() {
        let dir = folder("alternate");
        let mut s = FileStorage::open(&dir, 64).unwrap();
        assert_eq!((s.active(), s.active_bytes()), (None, None));
        s.install(b"first").unwrap();
        s.install(b"second").unwrap();
        assert_eq!(s.active(), Some(Slot::B));
        let s = FileStorage::open(&dir, 64).unwrap();
        assert_eq!((s.active(), s.active_bytes()), (Some(Slot::B), Some(&b"second"[..])));
        assert_eq!(fs::read(dir.join("slot-a.m3b")).unwrap(), b"first");
        assert!(!dir.join("slot-b.tmp").exists() && !dir.join("active.tmp").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_input_gives_typed_errors() {
        let dir = folder("errors");
        let mut s = FileStorage::open(&dir, 8).unwrap();
        assert!(matches!(s.writer.begin(9), Err(m3rt::Error::Storage { what: "model larger than the slot" })));
        s.writer.begin(4).unwrap();
        assert!(matches!(s.writer.write(2, b"xyz"), Err(m3rt::Error::Storage { what: "write past the end" })));
        assert!(matches!(s.writer.write(usize::MAX, b"x"), Err(m3rt::Error::Storage { .. })));
        assert!(matches!(s.commit(3), Err(m3rt::Error::Storage { what: "commit length differs from the upload" })));
        assert_eq!(s.active(), None, "a refused commit changes nothing");
        fs::write(dir.join("active"), "C\n").unwrap();
        let e = FileStorage::open(&dir, 8).err().expect("a bad marker is refused");
        assert!(e.to_string().contains("unexpected contents \"C\""), "{e}");
        fs::write(dir.join("active"), "A\n").unwrap();
        let e = FileStorage::open(&dir, 8).err().expect("a missing slot file is refused");
        assert!(format!("{e:#}").contains("slot-a.m3b"), "{e:#}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
