//! A serial port as a [`Link`]: the board's end (the agent binary) and the host's end
//! (edgenas-device's serial transport) share it.

use std::io::{Read, Write};
use std::time::Duration;

use edgenas_protocol::Link;

/// A serial port (or pseudo-terminal end) as a [`Link`].
pub struct SerialLink(pub Box<dyn serialport::SerialPort>);

impl SerialLink {
    /// Wrap an open port.
    pub fn new(port: impl serialport::SerialPort + 'static) -> Self {
        SerialLink(Box::new(port))
    }
}

impl Read for SerialLink {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for SerialLink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl Link for SerialLink {
    fn set_read_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.0.set_timeout(timeout).map_err(std::io::Error::other)
    }
}
