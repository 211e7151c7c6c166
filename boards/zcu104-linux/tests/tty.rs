//! `m3rt-board --port` on this host: the binary opens the slave side of a pseudo-terminal pair by name
//! through `serialport` (raw mode, 8N1), and a hello exchange over the master side gets its info; bad
//! options end it with a clear error and a failure exit code.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use m3rt::protocol::{frame, Deframer, Feed, Request, Response, MAX_FRAME, PROTOCOL_VERSION};
use serialport::SerialPort;

const BOARD: &str = env!("CARGO_BIN_EXE_m3rt-board");

/// Kills the board when the test ends, passing or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn board_answers_hello_on_a_pty() {
    let slots = std::env::temp_dir().join(format!("m3rt-linux-tty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&slots);
    let (mut master, slave) = serialport::TTYPort::pair().expect("a pseudo-terminal pair");
    master.set_timeout(Duration::from_millis(200)).unwrap();
    let device = slave.name().expect("the slave has a device name");
    let child = Command::new(BOARD)
        .args(["--port", &device, "--baud", "115200", "--slots"])
        .arg(&slots)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let board = Killed(child);

    let mut out = [0u8; MAX_FRAME];
    let n = frame::encode(7, &Request::Hello { protocol: PROTOCOL_VERSION }, &mut out).unwrap();
    let mut deframer = Deframer::new();
    let mut byte = [0u8; 1];
    let start = Instant::now();
    let (mut sent, mut last_sent) = (false, Instant::now());
    let len = loop {
        assert!(start.elapsed() < Duration::from_secs(20), "no answer from the board on {device}");
        // The board may not have opened the tty yet: ask again every second until it answers.
        if !sent || last_sent.elapsed() > Duration::from_secs(1) {
            master.write_all(&out[..n]).unwrap();
            (sent, last_sent) = (true, Instant::now());
        }
        match master.read(&mut byte) {
            Ok(1) => {
                if let Feed::Frame(len) = deframer.push(byte[0]) {
                    break len;
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("reading the pty: {e}"),
        }
    };
    let (tag, response) = frame::decode::<Response<'_>>(&mut deframer.frame()[..len]).unwrap();
    let Response::Info(info) = response else { panic!("not an info response: {response:?}") };
    assert_eq!((tag, info.protocol, info.backend), (7, PROTOCOL_VERSION, "cpu"));
    assert!(info.firmware.starts_with("m3rt-zcu104-linux "), "{}", info.firmware);
    assert!(info.model.is_none(), "fresh slots hold no model");
    drop(board);
    drop(slave);
    std::fs::remove_dir_all(&slots).unwrap();
}

#[test]
fn bad_options_fail_with_a_message() {
    let slots = std::env::temp_dir().join(format!("m3rt-linux-bad-{}", std::process::id()));
    let junk = std::env::temp_dir().join(format!("m3rt-linux-junk-{}.m3b", std::process::id()));
    std::fs::write(&junk, b"not a bundle").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--port", "/dev/m3rt-no-such-tty"], "opening serial port /dev/m3rt-no-such-tty"),
        (&["--port", "/dev/null", "--baud", "0"], "--baud must be positive"),
        (&["--model", junk.to_str().unwrap(), "--tcp", "127.0.0.1:0"], "m3rt-linux-junk"),
        (&["--tcp", "not-an-address"], "listening on not-an-address"),
    ];
    for (args, want) in cases {
        let out = Command::new(BOARD).arg("--slots").arg(&slots).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(want), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&slots);
    std::fs::remove_file(&junk).unwrap();
}
