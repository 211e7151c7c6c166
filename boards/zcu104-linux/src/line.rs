//! Serial lines for the command loop: any `std::io` stream seen through `embedded_io` ([`StdIo`], for a tty
//! or a socket), and the connections of a TCP listener seen as one endless line ([`ListenerLine`]).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// A std stream seen through `embedded_io`, so `m3rt::serve::Server` runs over it. Reads wait through
/// timeouts, as a board's UART read waits for the next byte.
pub struct StdIo<T>(pub T);

impl<T> embedded_io::ErrorType for StdIo<T> {
    type Error = std::io::Error;
}

impl<T: Read> embedded_io::Read for StdIo<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::Interrupted | std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                    ) =>
                {
                    continue
                }
                other => return other,
            }
        }
    }
}

impl<T: Write> embedded_io::Write for StdIo<T> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// A TCP listener as a serial line: connections on a listener, one after another, seen as one endless byte
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
