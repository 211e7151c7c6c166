//! Loading bundles and reading or writing tensors and images for the commands.

use std::path::Path;

use anyhow::{bail, Context, Result};
use m3rt::bundle::{AlignedBytes, Bundle, Crc32Stream};
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};

/// A bundle's bytes: the file mapped into memory (weights are read straight from the page cache, and pages
/// a run never touches, such as other tasks' heads, are never loaded), or a copy in aligned memory where
/// mapping is not possible.
pub enum BundleBytes {
    /// The file, mapped read-only (page-aligned, so every tensor keeps its 64-byte alignment).
    Mapped(memmap2::Mmap),
    /// A copy in 64-byte-aligned memory.
    Copied(AlignedBytes),
}

impl std::ops::Deref for BundleBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            BundleBytes::Mapped(m) => m,
            BundleBytes::Copied(a) => a,
        }
    }
}

/// Opens a bundle file for zero-copy parsing: mapped when possible, else read into aligned memory.
pub fn read_bundle(path: &Path) -> Result<BundleBytes> {
    let file = std::fs::File::open(path).with_context(|| format!("opening bundle {}", path.display()))?;
    // Safety: the map is read-only and private to this process; the bundle is treated as untrusted bytes
    // (parsed and checked before use), and the commands do not write to the file while it is mapped.
    match unsafe { memmap2::Mmap::map(&file) } {
        Ok(map) if !map.is_empty() => Ok(BundleBytes::Mapped(map)),
        _ => Ok(BundleBytes::Copied(
            AlignedBytes::read_file(path).with_context(|| format!("reading bundle {}", path.display()))?,
        )),
    }
}

/// Bytes of the weights read between two page releases while checking the CRC of a mapped bundle.
const CRC_PIECE: usize = 4 << 20;

impl BundleBytes {
    /// Parses the bundle ([`Bundle::parse`]). A mapped file's weights CRC is computed in 4 MiB pieces
    /// whose pages are released after each piece, so the check leaves only the pages a run touches
    /// resident (one task's pathway; not the other tasks' heads) instead of the whole file.
    pub fn parse(&self) -> std::result::Result<Bundle<'_>, m3rt::Error> {
        let BundleBytes::Mapped(map) = self else { return Bundle::parse(self) };
        Bundle::parse_with(map, |weights| crc_releasing(map, weights))
    }
}

impl BundleBytes {
    /// Drops this process's pages of the bundle bytes `range` (offsets into the bundle) that lie wholly
    /// inside it, so pages shared with a neighbouring stage stay; does nothing for a copied bundle. Made
    /// for [`m3rt::backend::Inference::run_releasing`]'s reports.
    pub fn release_inside(&self, range: std::ops::Range<usize>) {
        let BundleBytes::Mapped(map) = self else { return };
        let page = page_size();
        let (start, end) = (range.start.div_ceil(page) * page, range.end.min(map.len()) / page * page);
        if start < end {
            release(map, start, end - start);
        }
    }
}

/// The size of a memory page.
fn page_size() -> usize {
    #[cfg(unix)]
    {
        // Safety: sysconf only reads a configuration value; it has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 {
            return n as usize;
        }
    }
    4096
}

/// CRC-32 of `part` (a slice of `map`), read in [`CRC_PIECE`] pieces whose pages are released after each.
fn crc_releasing(map: &memmap2::Mmap, part: &[u8]) -> u32 {
    let base = map.as_ptr() as usize;
    let mut crc = Crc32Stream::new();
    for piece in part.chunks(CRC_PIECE) {
        crc.update(piece);
        release(map, piece.as_ptr() as usize - base, piece.len());
    }
    crc.finish()
}

/// Drops this process's resident pages of `map[offset .. offset + len]` (memmap2 widens the range to whole
/// pages).
fn release(map: &memmap2::Mmap, offset: usize, len: usize) {
    // Safety: the map is a read-only mapping of a file the commands never write, so MADV_DONTNEED
    // loses nothing: later reads fault the same file bytes back in. A failure (an unsupported advice) only
    // leaves the pages resident.
    #[cfg(unix)]
    let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len) };
    #[cfg(not(unix))]
    let _ = (map, offset, len);
}

/// Reads a float32 `.npy` tensor of `[1, 3, H, W]` or `[3, H, W]` and returns it as `[3, H, W]`.
pub fn read_input_npy(path: &Path, h: usize, w: usize) -> Result<Vec<f32>> {
    let (shape, values) = read_npy(path)?;
    let ok = shape == [1, 3, h, w] || shape == [3, h, w];
    if !ok {
        bail!("{} has shape {shape:?}; the model takes [1, 3, {h}, {w}] (or [3, {h}, {w}])", path.display());
    }
    Ok(values)
}

/// Reads a float32 `.npy` tensor with its shape.
pub fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).with_context(|| format!("opening {}", path.display()))?;
    parse_npy(&bytes).with_context(|| format!("reading {} as float32 .npy", path.display()))
}

/// Decodes the bytes of a float32 `.npy` file: its shape and values (the reader the fuzz target `npy` drives).
/// The header's shape is checked against the bytes that follow before anything is allocated for it.
pub fn parse_npy(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>)> {
    let (shape, data_len) = npy_header(bytes)?;
    let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).context("the .npy shape overflows")?;
    if elements.checked_mul(4).is_none_or(|need| need > data_len) {
        bail!("the .npy header declares shape {shape:?} ({elements} float32 values) but {data_len} bytes follow it");
    }
    let array = ArrayD::<f32>::read_npy(bytes)?;
    Ok((array.shape().to_vec(), array.iter().copied().collect()))
}

/// The shape a `.npy` header declares (format versions 1 to 3: magic, version, header length, a Python
/// dict with a `'shape'` tuple) and the bytes after the header.
fn npy_header(bytes: &[u8]) -> Result<(Vec<usize>, usize)> {
    let rest = bytes.strip_prefix(b"\x93NUMPY").context("not a .npy file (no \\x93NUMPY magic)")?;
    let (len, start) = match rest {
        [1, _, a, b, ..] => (usize::from(u16::from_le_bytes([*a, *b])), 10usize),
        [2 | 3, _, a, b, c, d, ..] => (u32::from_le_bytes([*a, *b, *c, *d]) as usize, 12),
        _ => bail!("a .npy header of an unknown version"),
    };
    let end = start.checked_add(len).filter(|&e| e <= bytes.len()).context("the .npy header runs past the file")?;
    let header = std::str::from_utf8(&bytes[start..end]).context("the .npy header is not text")?;
    let after = header.split_once("'shape'").context("the .npy header has no 'shape'")?.1;
    let open = after.find('(').context("the .npy 'shape' is not a tuple")?;
    let close = after[open..].find(')').context("the .npy 'shape' is not a tuple")? + open;
    let mut shape = Vec::new();
    for part in after[open + 1..close].split(',').map(str::trim).filter(|p| !p.is_empty()) {
        shape.push(part.parse::<usize>().with_context(|| format!("the .npy shape has '{part}'"))?);
    }
    Ok((shape, bytes.len() - end))
}

/// Writes `data` as a float32 `.npy` of `shape`.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let array = ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).context("tensor shape")?;
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    array.write_npy(file).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `npy` fuzz target (an out-of-memory: the header's shape asked for far more than the
    /// file holds, and the reader allocated it). Now a typed error, before any allocation.
    #[test]
    fn a_shape_larger_than_the_data_is_an_error() {
        let found: &[u8] = &[
            147, 78, 85, 77, 80, 89, 3, 0, 118, 0, 0, 255, 0, 0, 181, 123, 39, 100, 101, 44, 115, 99, 114, 39, 58, 32,
            39, 65, 102, 52, 39, 44, 32, 39, 102, 111, 114, 116, 114, 97, 110, 95, 63, 124, 113, 117, 63, 29, 21, 120,
            63, 190, 184, 122, 131,
        ];
        assert!(parse_npy(found).is_err());
        // A v1 header for shape (1000000, 1000000) followed by 8 bytes: refused by the size check.
        let dict = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }";
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        npy.extend_from_slice(dict);
        npy.extend_from_slice(&[0; 8]);
        let e = parse_npy(&npy).unwrap_err().to_string();
        assert!(e.contains("declares shape [1000000, 1000000]") && e.contains("but 8 bytes follow"), "{e}");
        // The same header with shape (2,) and 8 bytes of data reads.
        let dict = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        npy.extend_from_slice(dict);
        npy.extend_from_slice(&1.5f32.to_le_bytes());
        npy.extend_from_slice(&(-2f32).to_le_bytes());
        assert_eq!(parse_npy(&npy).unwrap(), (vec![2], vec![1.5, -2.0]));
    }
    use crate::convert::{convert_onnx, Precision};

    /// This process's resident kilobytes of its mappings of `path`, from `/proc/self/smaps`; `None` when
    /// the file is not mapped.
    fn resident_kb(path: &Path) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let name = path.canonicalize().expect("path").to_string_lossy().into_owned();
        let (mut inside, mut found, mut kb) = (false, false, 0);
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                inside = line.ends_with(&name);
                found |= inside;
            } else if let (true, Some(v)) = (inside, line.strip_prefix("Rss:")) {
                kb += v.trim().trim_end_matches("kB").trim().parse::<u64>().expect("Rss value");
            }
        }
        found.then_some(kb)
    }

    #[test]
    fn mapped_bundles_are_checked_and_leave_the_weights_on_disk() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let (bytes, _) = convert_onnx(&root.join("models/micro/model.onnx"), Precision::F32).expect("converts");
        let dir = std::env::temp_dir().join(format!("m3rt-mapped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("micro.m3b");
        std::fs::write(&path, &bytes).expect("write");

        let mapped = read_bundle(&path).expect("opens");
        assert!(matches!(mapped, BundleBytes::Mapped(_)));
        let bundle = mapped.parse().expect("parses");
        let copy = AlignedBytes::from_slice(&bytes);
        let reference = Bundle::parse(&copy).expect("parses");
        assert_eq!((bundle.hyper(), bundle.scratch_floats()), (reference.hyper(), reference.scratch_floats()));
        // The CRC reads every byte, yet leaves none of them mapped in (parsing then touches the header
        // again, which maps in whatever page-cache folio holds it).
        let BundleBytes::Mapped(map) = &mapped else { unreachable!() };
        assert_eq!(crc_releasing(map, map), m3rt::bundle::layout::crc32(&bytes));
        let (file_kb, kb) = (bytes.len() as u64 / 1024, resident_kb(&path).expect("the bundle is mapped"));
        assert!(file_kb > 1000 && kb == 0, "{kb} kB of {file_kb} kB resident");
        std::hint::black_box(map.iter().step_by(4096).map(|&b| u32::from(b)).sum::<u32>());
        assert!(resident_kb(&path).expect("mapped") >= file_kb, "touching maps the pages in again");

        // A run that releases each stage's pages ends with a handful of them resident (header, table,
        // the tasks' gates, pages shared by two stages) and computes the same bits.
        let (mut scratch, mut staged) = (vec![0f32; bundle.scratch_floats()], Vec::new());
        let mut engine = m3rt::engine::Engine::new(bundle, &mut scratch).expect("engine");
        let input = vec![0.5f32; engine.input_len()];
        let mut whole = vec![0f32; engine.output_len().expect("len")];
        engine.run(&input, &mut whole).expect("runs");
        staged.resize(whole.len(), f32::NAN);
        engine.run_releasing(&input, &mut staged, &mut |span| mapped.release_inside(span)).expect("runs");
        assert_eq!(whole, staged);
        let kb = resident_kb(&path).expect("mapped");
        assert!(kb * 10 < file_kb, "{kb} kB of {file_kb} kB still resident after a releasing run");

        // Released pages of a private anonymous copy read back as zeros: a stage that read its weights
        // again after reporting them done would compute with zeros and change the output.
        let mut anon = memmap2::MmapMut::map_anon(bytes.len()).expect("anonymous map");
        anon.copy_from_slice(&bytes);
        let zeroing = BundleBytes::Mapped(anon.make_read_only().expect("read-only"));
        let bundle = Bundle::parse(&zeroing).expect("parses");
        let (mut scratch, mut spans) = (vec![0f32; bundle.scratch_floats()], Vec::new());
        let mut engine = m3rt::engine::Engine::new(bundle, &mut scratch).expect("engine");
        staged.fill(f32::NAN);
        let mut report = |span: std::ops::Range<usize>| {
            zeroing.release_inside(span.clone());
            spans.push(span);
        };
        engine.run_releasing(&input, &mut staged, &mut report).expect("runs");
        assert_eq!(whole, staged);
        let depth = bundle.hyper().depth as usize;
        assert_eq!(spans.len(), depth + 2, "embedding, every block, the head");
        let zeros = |r: &std::ops::Range<usize>| zeroing[r.start.div_ceil(4096) * 4096..r.end / 4096 * 4096].to_vec();
        let block0 = zeros(&spans[1]);
        assert!(!block0.is_empty() && block0.iter().all(|&b| b == 0), "block 0's pages were released");
        assert!(bytes[spans[1].start.div_ceil(4096) * 4096..].iter().take(4096).any(|&b| b != 0));

        // One flipped weight byte is a CRC error naming the weights.
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        std::fs::write(&path, &bad).expect("write");
        let err = read_bundle(&path).expect("opens").parse().map(|_| ()).expect_err("corrupt weights");
        assert!(matches!(err, m3rt::Error::CrcMismatch { part: "weights", .. }), "{err}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
