//! `m3rt board --port`: the client opens a serial device by name through the `serialport` crate (the path
//! a USB-UART takes) and talks to the command loop running on the other end of a pseudo-terminal pair.

use std::time::Duration;

use crate::common::*;
use m3rt::backend::CpuBackend;
use m3rt::bundle::{AlignedBytes, Bundle};
use m3rt::engine::Engine;
use m3rt::serve::{ActiveMarker, Server, SliceStorage, Stopped};
use m3rt_cli::board::link::{open, LinkTarget};
use m3rt_cli::board::{Client, StdIo};
use m3rt_cli::convert::Precision;
use serialport::SerialPort;

#[test]
fn client_talks_to_the_loop_over_a_serial_device() {
    let dir = model_dir("micro").unwrap();
    let model = bundle(&dir, Precision::F32);
    let (_, input) = npy_f32(&dir.join("golden/input_0.npy"));
    let host = Bundle::parse(&model).unwrap();
    let mut scratch = vec![0f32; host.scratch_floats()];
    let mut engine = Engine::new(host, &mut scratch).unwrap();
    engine.select_task(1).unwrap();
    let mut reference = vec![0f32; engine.output_len().unwrap()];
    engine.run(&input, &mut reference).unwrap();

    let (master, slave) = serialport::TTYPort::pair().expect("a pseudo-terminal pair");
    let device = slave.name().expect("the slave side has a device name");
    let (mut a, mut b) = (AlignedBytes::zeroed(model.len()), AlignedBytes::zeroed(model.len()));
    let mut marker = ActiveMarker::default();
    let mut storage = SliceStorage::new(a.as_mut_slice(), b.as_mut_slice(), &mut marker);
    storage.install(&model).unwrap();
    let mut board_scratch = vec![0f32; host.scratch_floats()];
    let (mut staged_in, mut staged_out) = (vec![0f32; 1 << 16], vec![0f32; 1 << 16]);

    std::thread::scope(|s| {
        // The board's side of the pty stays open until the host has read its last answer (a closed pty master
        // drops unread bytes).
        let board = s.spawn(|| {
            let mut server = Server::new(
                StdIo(master),
                storage,
                CpuBackend::new(&mut board_scratch),
                &mut staged_in,
                &mut staged_out,
                "pty board",
            );
            // The host ends the session with a reboot request; a UART never reports an end of stream.
            assert_eq!(server.run().unwrap(), Stopped::Reboot);
            server
        });
        let port = LinkTarget::Serial { port: device.clone(), baud: 921_600 };
        let mut c = Client::new(open(&port, Duration::from_secs(10)).unwrap());
        let info = c.hello().unwrap();
        assert_eq!(info.firmware, "pty board");
        assert_eq!(c.tasks().unwrap().0.len(), 2);
        assert_eq!(c.select("depth").unwrap(), (1, reference.len() as u32));
        let (out, _) = c.infer(&input).unwrap();
        assert_eq!(
            out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            reference.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        c.reboot().unwrap();
        drop(board.join().unwrap());
    });
    drop(slave);
}
