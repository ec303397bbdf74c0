//! The byte stream both ends exchange frames on. TCP is implemented here (std only); serial
//! ports wrap theirs in the crates that use serialport (edgenas-device, the agent binary).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A byte stream to an agent (TCP socket, serial port, pseudo-terminal).
pub trait Link: Read + Write + Send {
    /// Set how long a read may block before failing with `TimedOut`/`WouldBlock`.
    fn set_read_timeout(&mut self, timeout: Duration) -> std::io::Result<()>;
}

impl Link for TcpStream {
    fn set_read_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        TcpStream::set_read_timeout(self, Some(timeout))
    }
}

/// Write `bytes` in pieces of at most 1 KiB (a single large write to a serial port can block
/// past its timeout when the peer reads slowly), then flush.
pub fn write_chunked(link: &mut (impl Write + ?Sized), bytes: &[u8]) -> std::io::Result<()> {
    for chunk in bytes.chunks(1024) {
        link.write_all(chunk)?;
    }
    link.flush()
}
