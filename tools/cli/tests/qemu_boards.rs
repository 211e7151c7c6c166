//! Both board firmwares in QEMU, driven through the protocol client: hello, task list, 100 task switches
//! (round-trip time printed), inference on `micro` for every task, bit-identical to the host runtime, and
//! model uploads: one cut by a warm reboot and one by a dropped connection leave the old model running; on
//! the A53 a complete upload (f16 micro) switches slots. A complete upload took 4 s (A53, idle machine) to
//! 61 s (M4, loaded machine) here, so the M4 skips it to keep CI short.
//!
//! Ignored by plain `cargo test` (it cross-builds two firmwares and needs QEMU): `cargo xtask qemu` runs it
//! with `--ignored`, after checking the firmwares' self-tests, and passes in `M3RT_QEMU_MODEL` (the f32
//! micro bundle) and `M3RT_QEMU_EXPECTED` (the host runtime's self-test lines for that bundle and
//! `models/micro/golden/input_0.npy`, computed with the portable kernels the firmwares run). Each QEMU is
//! killed when its test ends; every read on the link has a timeout.

use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use m3rt::bundle::{AlignedBytes, Bundle};
use m3rt::engine::Engine;
use m3rt::protocol::{Request, Slot};
use m3rt_cli::board::Client;
use m3rt_cli::convert::{convert_onnx, Precision};
use m3rt_cli::qemu::{boot, build_firmware, repo_root, QemuBoard};
use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

/// Bitwise CRC-32/ISO-HDLC of the little-endian bytes of `values` (independent of the runtime's CRC code).
fn crc32_f32(values: &[f32]) -> u32 {
    crc32(values.iter().flat_map(|v| v.to_le_bytes()))
}

/// Bitwise CRC-32/ISO-HDLC.
fn crc32(bytes: impl IntoIterator<Item = u8>) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `cargo xtask qemu`")))
}

/// `(task name, output floats, crc32)` for each `task i name: n floats, crc32 0x...` line.
fn expected_digests(text: &str) -> Vec<(String, usize, u32)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("task "))
        .map(|l| {
            let (head, crc) = l.split_once(", crc32 0x").expect("digest line");
            let (idx_name, floats) = head.split_once(": ").expect("digest line");
            let name = idx_name.split_once(' ').expect("index and name").1.to_string();
            let n = floats.trim_end_matches(" floats").parse().expect("float count");
            (name, n, u32::from_str_radix(crc.trim(), 16).expect("hex crc"))
        })
        .collect()
}

fn drive(board: QemuBoard) {
    let model = env_path("M3RT_QEMU_MODEL");
    let expected_text = std::fs::read_to_string(env_path("M3RT_QEMU_EXPECTED")).unwrap();
    let expected = expected_digests(&expected_text);
    assert!(!expected.is_empty(), "no digest lines in the expected file");
    let input_file = std::fs::File::open(repo_root().join("models/micro/golden/input_0.npy")).unwrap();
    let input: Vec<f32> = ArrayD::<f32>::read_npy(input_file).unwrap().iter().copied().collect();

    let elf = build_firmware(board, &model).unwrap();
    let mut qemu = boot(board, &elf, &model, None).unwrap();
    let (stream, boot_text) = qemu.connect(Duration::from_secs(120)).unwrap();
    print!("{boot_text}");
    assert!(boot_text.contains(expected_text.trim_end()), "boot self-test differs from the host");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut client = Client::new(stream);

    let info = client.hello().unwrap();
    assert!(info.firmware.starts_with(&format!("m3rt-{}", board.folder())), "firmware {:?}", info.firmware);
    assert_eq!(info.backend, "cpu");
    let (tasks, selected) = client.tasks().unwrap();
    let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    let want: Vec<&str> = expected.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, want);
    assert_eq!(selected, 0);

    let start = Instant::now();
    for i in 0..100 {
        let name = &names[(i + 1) % names.len()];
        let (index, _) = client.select(name).unwrap();
        assert_eq!(index as usize, (i + 1) % names.len());
    }
    let rtt = start.elapsed() / 100;
    println!(
        "{}: task switch round trip {:.3} ms (mean of 100 over the QEMU serial link)",
        board.folder(),
        rtt.as_secs_f64() * 1e3
    );

    // The host runtime with the kernels the boards run (the portable build, forced): bit for bit.
    m3rt::kernels::simd::set_portable(true);
    let bytes = AlignedBytes::from_slice(&std::fs::read(&model).unwrap());
    let bundle = Bundle::parse(&bytes).unwrap();
    let mut scratch = vec![0f32; bundle.scratch_floats()];
    let mut host = Engine::new(bundle, &mut scratch).unwrap();

    for (t, (name, floats, crc)) in expected.iter().enumerate() {
        client.select(name).unwrap();
        let t0 = Instant::now();
        let (out, report) = client.infer(&input).unwrap();
        let took = t0.elapsed();
        assert_eq!(out.len(), *floats, "{name}: output length");
        assert_eq!(crc32_f32(&out), *crc, "{name}: output differs from the self-test's digest");
        host.select_task(t as u32).unwrap();
        let mut host_out = vec![0f32; out.len()];
        host.run(&input, &mut host_out).unwrap();
        let differing = out.iter().zip(&host_out).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert_eq!(differing, 0, "{name}: {differing} values differ from the host runtime's portable build");
        println!(
            "{}: {name} bit-identical to the host runtime (crc32 {crc:#010x}); board run {}, infer round \
             trip {:.1} ms",
            board.folder(),
            report.micros.map_or("time not reported (no board timer)".to_string(), |us| format!("{us} µs")),
            took.as_secs_f64() * 1e3
        );
    }
    corrupted_requests(&mut client, names.len());
    let complete = board == QemuBoard::Zcu104;
    uploads(client, qemu.port, &std::fs::read(&model).unwrap(), &input, &expected, complete);
}

/// 1,000 requests over the QEMU serial link, every tenth one with a flipped byte: each damaged frame gets a
/// no-tag error, each good one its correct answer, and the board keeps serving (no hang, no reboot).
fn corrupted_requests(client: &mut Client<TcpStream>, tasks: usize) {
    use m3rt::protocol::{frame, ErrorCode, MAX_FRAME};
    let fingerprint = client.info().unwrap().model.expect("a model").fingerprint;
    let (mut good, mut bad) = (0, 0);
    let start = Instant::now();
    for i in 0..1000u32 {
        if i % 10 == 7 {
            let mut f = [0u8; MAX_FRAME];
            let n = frame::encode(60000, &Request::SelectTask { index: 0 }, &mut f).unwrap();
            let at = 1 + (i as usize / 10) % (n - 2);
            f[at] ^= if f[at] == 0x5A { 0xA5 } else { 0x5A };
            client.send_raw(&f[..n]).unwrap();
            let (tag, code, _) = client.next_error().unwrap().expect("an error response");
            assert_eq!(tag, 0, "a damaged frame is answered without a tag");
            assert!(matches!(code, ErrorCode::BadCrc | ErrorCode::BadFrame), "{code:?}");
            bad += 1;
            continue;
        }
        if i % 2 == 0 {
            assert_eq!(client.info().unwrap().model.expect("a model").fingerprint, fingerprint);
        } else {
            assert_eq!(client.tasks().unwrap().0.len(), tasks);
        }
        good += 1;
    }
    assert_eq!((good, bad), (900, 100));
    println!(
        "1,000 requests with 100 corrupted: every good one answered correctly in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

/// Uploads cut after 16 KiB (warm reboot, dropped connection), then, when `complete`, a full one.
fn uploads(
    mut client: Client<TcpStream>,
    port: u16,
    f32_bytes: &[u8],
    input: &[f32],
    expected: &[(String, usize, u32)],
    complete: bool,
) {
    let fingerprint = |b: &[u8]| crc32(b[..40].iter().copied());
    let (f16_bytes, _) = convert_onnx(&repo_root().join("models/micro/model.onnx"), Precision::F16).unwrap();
    let begin_cut = |c: &mut Client<TcpStream>| {
        let crc = crc32(f16_bytes.iter().copied());
        c.call(&Request::UploadBegin { len: f16_bytes.len() as u32, crc }).unwrap();
        c.upload_chunks(&f16_bytes, 0, 16 << 10, &mut |_| {}).unwrap();
    };
    begin_cut(&mut client);
    client.reboot().unwrap();
    let m = client.hello().unwrap().model.unwrap();
    assert_eq!((m.slot, m.fingerprint), (Slot::A, fingerprint(f32_bytes)), "after a cut upload and a reboot");
    begin_cut(&mut client);
    drop(client);

    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut client = Client::new(stream);
    let m = client.hello().unwrap().model.unwrap();
    assert_eq!((m.slot, m.fingerprint), (Slot::A, fingerprint(f32_bytes)), "after a dropped connection");
    client.reboot().unwrap();
    assert_eq!(client.hello().unwrap().model.unwrap().fingerprint, fingerprint(f32_bytes));
    // The old model still computes the same bits (the smallest output, to keep the serial transfer short).
    let (name, floats, crc) = expected.iter().min_by_key(|e| e.1).expect("a task");
    client.select(name).unwrap();
    let (out, _) = client.infer(input).unwrap();
    assert_eq!((out.len(), crc32_f32(&out)), (*floats, *crc), "{name} after the cut uploads");
    if !complete {
        return;
    }

    let t0 = Instant::now();
    let (slot, fp) = client.upload(&f16_bytes, |_| {}).unwrap();
    let took = t0.elapsed();
    assert_eq!((slot, fp), (Slot::B, fingerprint(&f16_bytes)));
    let (out, _) = client.infer(input).unwrap();
    assert_eq!(out.len(), expected[0].1);
    println!(
        "uploaded f16 micro ({} bytes) in {:.2} s; slot B active, semseg runs ({} values)",
        f16_bytes.len(),
        took.as_secs_f64(),
        out.len()
    );
    client.reboot().unwrap();
    assert_eq!(client.hello().unwrap().model.unwrap().fingerprint, fingerprint(&f16_bytes), "after a reboot");
}

#[test]
#[ignore = "builds the firmwares and boots QEMU: run by `cargo xtask qemu`"]
fn qemu_zcu104_serves_the_protocol() {
    drive(QemuBoard::Zcu104);
}

#[test]
#[ignore = "builds the firmwares and boots QEMU: run by `cargo xtask qemu`"]
fn qemu_mps2_an386_serves_the_protocol() {
    drive(QemuBoard::Mps2An386);
}
