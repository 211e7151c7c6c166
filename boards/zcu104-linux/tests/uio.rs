//! The Linux buses over file-backed fake devices: a 4096-byte temporary file stands for the IP's register
//! page (`UioBus`) or a u-dma-buf buffer (`UdmabufDma`), a temporary folder for their sysfs attributes.
//! Accesses land at the file offsets the bus offsets say (read back with `std::fs`), and nothing past the
//! map is touched.
#![cfg(target_os = "linux")]

use std::fs;
use std::path::PathBuf;

use m3rt::accel::bus::{BusFault, DmaMemory, RegisterBus};
use m3rt::accel::{regfile, regs};
use m3rt_linux::uio::{parse_sysfs_number, read_sysfs_number, UdmabufDma, UioBus};

/// A fresh folder under the temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("m3rt-linux-uio-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// A file of `len` zero bytes standing for a device node.
    fn device(&self, len: usize) -> PathBuf {
        let path = self.0.join("dev");
        fs::write(&path, vec![0u8; len]).unwrap();
        path
    }

    /// Writes `text` into the sysfs attribute `rel` (folders made as needed).
    fn attr(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join("sys").join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        self.0.join("sys")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn word_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap())
}

#[test]
fn sysfs_numbers_as_the_kernel_writes_them() {
    assert_eq!(parse_sysfs_number("0x00010000\n"), Some(0x1_0000));
    assert_eq!(parse_sysfs_number("0x000000007e000000"), Some(0x7e00_0000));
    assert_eq!(parse_sysfs_number("1048576\n"), Some(1_048_576));
    assert_eq!(parse_sysfs_number("0XfF"), Some(255));
    for bad in ["", "0x", "0xg1", "12k", "-4", "0x1_0000"] {
        assert_eq!(parse_sysfs_number(bad), None, "{bad:?}");
    }
    let dir = Scratch::new("sysfs");
    let sys = dir.attr("maps/map0/size", "0x00001000\n");
    assert_eq!(read_sysfs_number(&sys.join("maps/map0/size")).unwrap(), 4096);
    dir.attr("bad", "lots\n");
    let err = read_sysfs_number(&sys.join("bad")).unwrap_err();
    assert!(err.to_string().contains("bad") && err.to_string().contains("not a number"), "{err}");
    let err = read_sysfs_number(&sys.join("missing")).unwrap_err();
    assert!(err.to_string().contains("missing"), "the path is in the message: {err}");
}

#[test]
fn uio_bus_reads_and_writes_the_file_at_the_offsets() {
    let dir = Scratch::new("bus");
    let dev = dir.device(4096);
    let sys = dir.attr("maps/map0/size", "0x00001000\n");
    let mut bus = UioBus::open_at(&dev, &sys).unwrap();
    assert_eq!(bus.span(), 4096);
    bus.write32(regs::GATES_LO, 0x1234_5678).unwrap();
    bus.write32(regs::WORK_WORDS, 77).unwrap();
    bus.write32(4092, 0xfeed_f00d).unwrap();
    let bytes = fs::read(&dev).unwrap();
    assert_eq!(word_at(&bytes, 0x1C), 0x1234_5678);
    assert_eq!(word_at(&bytes, 0x70), 77);
    assert_eq!(word_at(&bytes, 4092), 0xfeed_f00d);
    assert_eq!(bytes.iter().filter(|&&b| b != 0).count(), 4 + 1 + 4, "nothing else written");
    // A value put in the file reads back through the bus.
    let mut bytes = bytes;
    bytes[regs::STATUS as usize..regs::STATUS as usize + 4].copy_from_slice(&0x0bad_cafe_u32.to_ne_bytes());
    fs::write(&dev, &bytes).unwrap();
    assert_eq!(bus.read32(regs::STATUS), Ok(0x0bad_cafe));
    for offset in [4096, 4094, 2, u32::MAX - 3] {
        assert_eq!(bus.read32(offset), Err(BusFault), "{offset:#x}");
        assert_eq!(bus.write32(offset, 1), Err(BusFault), "{offset:#x}");
    }
}

#[test]
fn uio_bus_over_the_ips_span_and_its_refusals() {
    let dir = Scratch::new("span");
    let dev = dir.device(4096);
    // Only the registers' span mapped: the word past the last register faults.
    let mut bus = UioBus::open_path(&dev, u64::from(regfile::SPAN)).unwrap();
    assert_eq!(bus.write32(regs::WEIGHT_KIB_CTRL, 1), Ok(()));
    assert_eq!(bus.read32(regfile::SPAN), Err(BusFault));
    // A file shorter than the size, a size of 0, a missing device: errors naming the path.
    for (size, what) in [(8192, "needed"), (0, "size 0")] {
        let err = UioBus::open_path(&dev, size).unwrap_err();
        assert!(err.to_string().contains(what) && err.to_string().contains("dev"), "{err}");
    }
    let err = UioBus::open_path(dir.0.join("uio9"), 4096).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(err.to_string().contains("uio9"), "{err}");
    let err = UioBus::open_at(&dev, dir.0.join("nosys")).unwrap_err();
    assert!(err.to_string().contains("maps/map0/size"), "{err}");
}

#[test]
fn udmabuf_copies_land_in_the_file() {
    let dir = Scratch::new("dma");
    let dev = dir.device(4096);
    dir.attr("phys_addr", "0x0000000070000000\n");
    let sys = dir.attr("size", "4096\n");
    let mut dma = UdmabufDma::open_at(&dev, &sys).unwrap();
    assert_eq!((dma.bus_address(), dma.len()), (0x7000_0000, 4096));
    // 21 bytes from offset 3: 5 single bytes up to offset 8, two words, then 0 bytes of tail.
    let data: Vec<u8> = (1..=21).collect();
    dma.write(3, &data).unwrap();
    dma.write(4094, &[0xee, 0xff]).unwrap();
    let bytes = fs::read(&dev).unwrap();
    assert_eq!(&bytes[..3], &[0, 0, 0]);
    assert_eq!(&bytes[3..24], data.as_slice());
    assert_eq!(bytes[24], 0);
    assert_eq!(&bytes[4094..], &[0xee, 0xff]);
    // Bytes put in the file read back, across an unaligned start and a tail.
    let mut bytes = bytes;
    bytes[100..113].copy_from_slice(b"hello, u-dma!");
    fs::write(&dev, &bytes).unwrap();
    let mut out = [0u8; 13];
    dma.read(100, &mut out).unwrap();
    assert_eq!(&out, b"hello, u-dma!");
    let mut one = [0u8; 1];
    dma.read(4095, &mut one).unwrap();
    assert_eq!(one, [0xff]);
    // Out of range: nothing copied.
    assert_eq!(dma.write(4095, &[1, 2]), Err(BusFault));
    assert_eq!(dma.read(4090, &mut [0u8; 7]), Err(BusFault));
    assert_eq!(dma.write(usize::MAX, &[1]), Err(BusFault));
    assert_eq!(dma.flush(0..4096), Ok(()));
    assert_eq!(dma.invalidate(4000..4097), Err(BusFault));
    assert_eq!(fs::read(&dev).unwrap(), bytes);
}

#[test]
fn udmabuf_given_explicitly_and_its_refusals() {
    let dir = Scratch::new("dma-explicit");
    let dev = dir.device(4096);
    let dma = UdmabufDma::open_path(&dev, 0x6000_0040, 1024).unwrap();
    assert_eq!((dma.bus_address(), dma.len()), (0x6000_0040, 1024));
    let err = UdmabufDma::open_at(&dev, dir.0.join("nosys")).unwrap_err();
    assert!(err.to_string().contains("phys_addr"), "{err}");
    dir.attr("phys_addr", "0x70000000\n");
    let sys = dir.attr("size", "0x2000\n");
    let err = UdmabufDma::open_at(&dev, &sys).unwrap_err();
    assert!(err.to_string().contains("8192 needed"), "{err}");
}
